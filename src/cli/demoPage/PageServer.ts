/**
 * The demo page's web server, on 127.0.0.1: the page, the client bundle and the page's script
 * (all from the package: no CDN), and `/events`, a Server-Sent Events stream of the cluster's
 * picture about ten times a second. The page's player itself talks to the proxy directly over
 * WebSocket; this server only shows and steers.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BROWSER_BUNDLES, type BuiltBundle, buildBrowserBundles, bundleDir } from './bundles.js';
import { ClusterView, type DemoCluster } from './ClusterView.js';
import { demoPageHtml } from './html.js';

/** Options of {@link serveDemoPage}. */
export interface DemoPageOptions {
  /** Port on 127.0.0.1 (default 0: any free port). */
  port?: number;
  /** WebSocket URL of the proxy listener the page's player connects to. */
  playerUrl: string;
  /** Snapshot and steering period, ms (default 100). */
  periodMs?: number;
}

/** A running demo page. */
export interface DemoPage {
  /** The page's address, to open in a browser. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The bundles to serve: when this runs from the TypeScript sources (`npm run demo`), built now
 * in memory so they match the sources; from the built package, the files `npm run build` wrote.
 */
async function loadBundles(): Promise<BuiltBundle[]> {
  if (fileURLToPath(import.meta.url).endsWith('.ts')) return buildBrowserBundles();
  return Promise.all(
    Object.keys(BROWSER_BUNDLES).map(async (name) => ({
      name,
      text: await readFile(resolve(bundleDir, name), 'utf8'),
      map: await readFile(resolve(bundleDir, `${name}.map`), 'utf8'),
    })),
  );
}

/** Starts the page server for a running demo cluster. */
export async function serveDemoPage(cluster: DemoCluster, options: DemoPageOptions): Promise<DemoPage> {
  const files = new Map<string, { type: string; body: string }>();
  for (const b of await loadBundles()) {
    files.set(`/${b.name}`, { type: 'text/javascript; charset=utf-8', body: b.text });
    files.set(`/${b.name}.map`, { type: 'application/json', body: b.map });
  }
  files.set('/', { type: 'text/html; charset=utf-8', body: demoPageHtml(options.playerUrl) });

  const view = new ClusterView(cluster);
  const streams = new Set<ServerResponse>();
  const http = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    const file = files.get(path);
    if (!file || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body);
  });
  const timer = setInterval(() => {
    view.steer();
    const data = `data: ${JSON.stringify(view.snapshot())}\n\n`;
    // a page that cannot keep up is cut off rather than buffered without bound
    for (const res of streams) {
      if (res.writableLength > 1 << 20) res.destroy();
      else res.write(data);
    }
  }, options.periodMs ?? 100);
  await new Promise<void>((ok, fail) => {
    http.once('error', fail);
    http.listen(options.port ?? 0, '127.0.0.1', ok);
  });
  const { port } = http.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/`,
    close() {
      closed ??= shut();
      return closed;
    },
  };

  async function shut(): Promise<void> {
    clearInterval(timer);
    view.close();
    for (const res of streams) res.end();
    streams.clear();
    http.closeAllConnections();
    await new Promise<void>((ok) => http.close(() => ok()));
  }
}
