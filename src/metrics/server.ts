import cluster from 'node:cluster';
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { AggregatorRegistry, Registry } from 'prom-client';
import { errorSummary } from '../logger.js';
import { processMetrics, type Metrics } from './metrics.js';

/**
 * The scrape endpoint, `GET /metrics` on a port of its own (METRICS_PORT), never on the API's
 * port: the public listener stays what the proxy publishes, and the metrics port is reached
 * only by the monitoring network. The text carries no person data and no user names.
 */
export function metricsServer(collect: () => Promise<string>, contentType: string, logger?: Logger): Server {
  return createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    collect().then(
      (text) => res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' }).end(text),
      (err: unknown) => {
        logger?.error({ err: errorSummary(err) }, 'metrics collection failed');
        res.writeHead(503, { 'Content-Type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
}

/** This process's own series: the app's and the Node.js process's. */
export const localMetrics = (metrics: Metrics): Registry => Registry.merge([processMetrics(), metrics.registry]);

/**
 * Publishes an instance's metrics: on METRICS_PORT when it runs alone; under node:cluster
 * (WEB_CONCURRENCY) a worker answers the primary's aggregation requests instead, and the primary
 * serves the port (see src/cluster.ts).
 */
export function exposeMetrics(port: number | undefined, host: string, metrics: Metrics, logger: Logger): Server | undefined {
  if (cluster.isWorker) {
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([processMetrics(), metrics.registry]);
    return undefined;
  }
  if (port === undefined) return undefined;
  const server = metricsServer(() => localMetrics(metrics).metrics(), Registry.PROMETHEUS_CONTENT_TYPE, logger);
  server.listen(port, host, () => logger.info({ port, host }, 'metrics listening'));
  server.unref();
  return server;
}
