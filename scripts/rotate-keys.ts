// `npm run keys:rotate`: creates a new signing key, published in the JWKS at once and signing
// after the publish delay; the previous key keeps verifying until every token it signed has
// expired. Required once before a production start.
import { DEFAULT_PUBLISH_DELAY_SECONDS, rotateSigningKey } from '../src/auth/keys.js';
import { loadConfig } from '../src/config/index.js';
import { signingKeys } from '../src/db/schema/index.js';
import { openFromEnvironment } from './database.js';

const config = loadConfig();
const database = await openFromEnvironment();
// The very first key signs at once: there is no older key for verifiers to fall back on.
const first = (await database.db.select({ kid: signingKeys.kid }).from(signingKeys).limit(1)).length === 0;
const kid = await rotateSigningKey(database.db, config.keyEncryptionKey, config.TOKEN_TTL_SECONDS, first ? 0 : DEFAULT_PUBLISH_DELAY_SECONDS);
await database.close();
console.log(`new signing key ${kid} ${first ? 'is active' : `signs in ${DEFAULT_PUBLISH_DELAY_SECONDS} s`}`);
