// The floor of a gateway request, for `npm run bench`: plain express + pg doing only the work no
// gateway can skip, one indexed read (or one insert) and one durable access-log insert in one
// transaction on the same PostgreSQL. No token, no policy, no validation, no application log.
// Run by bench/gateway-vs-floor.ts as its own process: FLOOR_DATABASE_URL, FLOOR_PORT.
import { randomUUID } from 'node:crypto';
import express from 'express';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.FLOOR_DATABASE_URL, max: Number(process.env.FLOOR_POOL ?? 10) });
pool.on('error', () => undefined);

const LOG = `INSERT INTO access_log (request_id, actor_username, subject_id, action, decision) VALUES ($1, 'floor', $2, $3, 'allow')`;

async function inTransaction<T>(work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

const app = express();
app.use(express.json());
app.get('/floor/risk-flags/:id', async (req, res) => {
  const rows = await inTransaction(async (c) => {
    const r = await c.query('SELECT id, code, severity, note, created_at FROM risk_flags WHERE subject_id = $1', [req.params.id]);
    await c.query(LOG, [randomUUID(), req.params.id, 'risk_flag.read']);
    return r.rows;
  });
  res.json({ riskFlags: rows });
});
app.get('/floor/subjects/:id', async (req, res) => {
  const rows = await inTransaction(async (c) => {
    const r = await c.query('SELECT id, given_name, family_name, birth_date, sex FROM subjects WHERE id = $1', [req.params.id]);
    await c.query(LOG, [randomUUID(), req.params.id, 'subject.read']);
    return r.rows;
  });
  res.json({ subject: rows[0] });
});
app.get('/floor/search', async (req, res) => {
  const rows = await inTransaction(async (c) => {
    const r = await c.query('SELECT id, given_name, family_name, birth_date, sex FROM subjects WHERE birth_date = $1 AND lower(family_name) = $2 LIMIT 20', [
      req.query.dob,
      String(req.query.name).toLowerCase(),
    ]);
    await c.query(LOG, [randomUUID(), null, 'subject.search']);
    return r.rows;
  });
  res.json({ subjects: rows });
});
app.post('/floor/subjects/:id/consents', async (req, res) => {
  const b = req.body as { tiers: string[]; purpose: string; evidence: unknown; recipients: unknown };
  const row = await inTransaction(async (c) => {
    const r = await c.query(
      `INSERT INTO consents (subject_id, recipients, recipient_agency_ids, recipient_kinds, tiers, sensitive_categories, purpose, valid_from, evidence, agency_id, recorded_by)
       SELECT $1, $2, '{}', '{police}', $3, '{}', $4, now(), $5, agency_id, created_by FROM subjects WHERE id = $1 RETURNING id`,
      [req.params.id, JSON.stringify(b.recipients), b.tiers, b.purpose, JSON.stringify(b.evidence)],
    );
    await c.query(LOG, [randomUUID(), req.params.id, 'consent.create']);
    return r.rows[0];
  });
  res.status(201).json(row);
});

const server = app.listen(Number(process.env.FLOOR_PORT ?? 3114), '127.0.0.1', () => console.log('floor listening'));
process.on('SIGTERM', () => server.close(() => void pool.end().then(() => process.exit(0))));
