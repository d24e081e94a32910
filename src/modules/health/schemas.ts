import { z } from 'zod';

// What the health routes answer (src/modules/health/routes.ts), documented in src/http/openapi.ts.

export const Liveness = z.object({ status: z.literal('ok') });
const readiness = (status: 'ready' | 'unavailable') => z.object({ status: z.literal(status), logWritable: z.boolean(), signingKey: z.boolean() });
export const Ready = readiness('ready');
export const NotReady = readiness('unavailable');
