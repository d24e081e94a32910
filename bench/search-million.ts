// `npm run bench:search-million`: search and match among 1,000,000 people, through HTTP, on
// PostgreSQL (issue 20: p50 and p99 at c=1 and c=16, goal p99 < 50 ms at c=16), and the plan of
// the blocking read (EXPLAIN ANALYZE) showing the index it uses.
//
//   npm run bench:search-million                      1,000,000 people, 8 s per run
//   npm run bench:search-million -- --people 200000 --seconds 5
// The population is made in SQL (INSERT … SELECT generate_series): names drawn from small lists,
// birth dates spread over 80 years, so a birth date holds about 34 people and a common family
// name a few of them. Needs BENCH_DATABASE_URL (superuser; default the local server); creates
// and drops its own database. Port: BENCH_PORT (3104).
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import type pg from 'pg';
import { defaultMatchingPolicy } from '../src/matching/index.js';
import { BLOCK_TEXT, blockParams, searchBlockQuery } from '../src/modules/subjects/candidates.js';
import { scratchDatabase, startGateway } from './harness.js';

const { values: args } = parseArgs({
  options: { people: { type: 'string', default: '1000000' }, seconds: { type: 'string', default: '8' }, c: { type: 'string', default: '1,16' } },
});
const PEOPLE = Number(args.people);
const PORT = Number(process.env.BENCH_PORT ?? 3104);

// Names from syllables (28 000 family names, 900 given names, each as unlike the others as real
// names are), and a tenth of the people with real names, so that a search for one shares its
// block with its namesakes only, as in a county's records.
const SYLLABLES = [
  'ba',
  'ko',
  'ri',
  'mel',
  'dan',
  'sto',
  'vik',
  'lu',
  'har',
  'pen',
  'qui',
  'zor',
  'fen',
  'gal',
  'tho',
  'wim',
  'ja',
  'nor',
  'bel',
  'cas',
  'dru',
  'el',
  'fo',
  'gri',
  'hu',
  'ix',
  'jo',
  'ky',
  'lam',
  'mo',
];
const GIVEN = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'John', 'Mary', 'William', 'Katherine', 'Dennis', 'Ken', 'Frances', 'Radia'];
const FAMILY = ['Smith', 'Johnson', 'Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Hamilton', 'Backus', 'Kenneth', 'Ritchie', 'Thompson'];

const db = await scratchDatabase();
const pool = (db.owner.db as unknown as { $client: pg.Pool }).$client;
try {
  const started = Date.now();
  const [{ agency_id: agencyId, id: userId }] = (await pool.query(`SELECT agency_id, id FROM users WHERE username = 'clinician@harbor-mh'`)).rows;
  const syllable = (seed: string) => `($6::text[])[(1 + (${seed}) % 30)::int]`;
  await pool.query(
    `INSERT INTO subjects (given_name, family_name, birth_date, sex, agency_id, created_by)
     SELECT CASE WHEN i % 10 = 0 THEN ($1::text[])[(1 + (i * 7919) % array_length($1::text[], 1))::int]
                 ELSE initcap(${syllable('i * 31')} || ${syllable('i * 17 / 7')}) END,
            CASE WHEN i % 10 = 0 THEN ($2::text[])[(1 + (i * 104729) % array_length($2::text[], 1))::int]
                 ELSE initcap(${syllable('i * 13')} || ${syllable('i / 30')} || ${syllable('i / 900')}) END,
            date '1940-01-01' + ((i * 48271) % (80 * 365))::int,
            CASE WHEN i % 2 = 0 THEN 'female' ELSE 'male' END, $3, $4
       FROM generate_series(1, $5::bigint) AS i`,
    [GIVEN, FAMILY, agencyId, userId, PEOPLE, SYLLABLES],
  );
  await pool.query('VACUUM ANALYZE subjects');
  console.log(`filled ${PEOPLE} people in ${((Date.now() - started) / 1000).toFixed(0)} s`);

  // The plan of the blocking read, as the search sends it (the block rides with the principal;
  // this is the same SELECT on its own).
  const [{ id: clerkAgency }] = (await pool.query(`SELECT id FROM agencies WHERE slug = 'metro-police'`)).rows;
  const params = [...blockParams(searchBlockQuery('Grace Hopper', '1975-06-15'), defaultMatchingPolicy()), clerkAgency];
  const plan = await pool.query(`EXPLAIN (ANALYZE, BUFFERS) ${BLOCK_TEXT}`, params);
  console.log(plan.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n'));

  const gateway = await startGateway(db, PORT);
  try {
    const token = await db.token('clerk@metro-police');
    const doctor = await db.token('clinician@harbor-mh');
    // Queries that find someone: names and dates of people in the table, some re-typed.
    const sample = (await pool.query(`SELECT given_name, family_name, birth_date::text AS dob FROM subjects TABLESAMPLE SYSTEM (1) LIMIT 200`)).rows as {
      given_name: string;
      family_name: string;
      dob: string;
    }[];
    const searches = sample.map(
      (p, i) => `/v1/subjects?${new URLSearchParams({ name: i % 3 === 0 ? p.family_name : `${p.given_name} ${p.family_name}`, dob: p.dob })}`,
    );
    const matches = sample.map((p) => JSON.stringify({ givenName: p.given_name, familyName: p.family_name, birthDate: p.dob, sex: 'female' }));
    const rows: string[] = [];
    for (const c of args.c.split(',').map(Number)) {
      for (const [label, auth, requests] of [
        ['GET /v1/subjects?name=&dob=', token, searches.map((path) => ({ method: 'GET' as const, path }))],
        ['POST /v1/subjects/match', doctor, matches.map((body) => ({ method: 'POST' as const, path: '/v1/subjects/match', body }))],
      ] as const) {
        const result = await autocannon({
          url: `http://127.0.0.1:${PORT}`,
          connections: c,
          duration: Number(args.seconds),
          headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' },
          requests: [...requests],
        });
        const bad = result.non2xx + result.errors;
        rows.push(`| ${c} | ${label} | ${result.requests.average.toFixed(0)} | ${result.latency.p50} ms | ${result.latency.p99} ms | ${bad} |`);
        console.log(rows.at(-1));
      }
    }
    console.log(
      `\n${PEOPLE} people, ${args.seconds} s per run\n\n| c | request | req/s | p50 | p99 | non-2xx |\n|---|---|---|---|---|---|\n${rows.join('\n')}`,
    );
  } finally {
    await gateway.stop();
  }
} finally {
  await db.drop();
}
