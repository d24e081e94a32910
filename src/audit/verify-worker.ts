// The verification worker (src/audit/verify.ts): hashes the chunks it is sent, in order.
import { parentPort } from 'node:worker_threads';
import { chunkHasher, type Chunk } from './verify-chunks.js';

const hash = chunkHasher();
parentPort!.on('message', (chunk: Chunk) => {
  const result = hash(chunk);
  parentPort!.postMessage(result, [result.bytes.buffer as ArrayBuffer, result.ends.buffer as ArrayBuffer]);
});
