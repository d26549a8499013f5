/** The demo page's HTML: a canvas, the counters, and the page script (a module importing the client bundle). */

const escapeAttribute = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The page, with the proxy's WebSocket URL for its player. */
export function demoPageHtml(playerUrl: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="baton-player-url" content="${escapeAttribute(playerUrl)}">
<title>baton: seamless migration, live</title>
<style>
  body { margin: 0; background: #111418; color: #d8dde3; font: 14px/1.45 system-ui, sans-serif; }
  main { display: flex; gap: 18px; padding: 16px; align-items: flex-start; flex-wrap: wrap; }
  canvas { background: #1a1e24; border-radius: 6px; max-width: 100%; }
  aside { width: 380px; }
  h1 { font-size: 17px; margin: 0 0 8px; }
  dl { display: grid; grid-template-columns: auto auto; gap: 2px 14px; margin: 0 0 12px; }
  dt { color: #8a949f; } dd { margin: 0; font-variant-numeric: tabular-nums; }
  .ok { color: #7fd18b; } .bad { color: #ff7b72; }
  #log { font-size: 12px; color: #9aa5b1; list-style: none; padding: 0; margin: 0; max-height: 220px; overflow: hidden; }
  kbd { border: 1px solid #555; border-radius: 3px; padding: 0 4px; }
</style>
</head>
<body>
<main>
  <canvas id="world" width="900" height="450"></canvas>
  <aside>
    <h1>baton: one proxy, seamless migration</h1>
    <p>You are the white-ringed player. Move with <kbd>←</kbd><kbd>↑</kbd><kbd>→</kbd><kbd>↓</kbd>;
       cross into another backend's region and the proxy migrates you there, without a reconnect.</p>
    <dl>
      <dt>players per backend</dt><dd id="c-players">–</dd>
      <dt>migrations (failed)</dt><dd id="c-migrations">–</dd>
      <dt>freeze p50 / p99</dt><dd id="c-freeze">–</dd>
      <dt>bot inputs sent / processed</dt><dd id="c-bots">–</dd>
      <dt>you: connection</dt><dd id="c-you-state">connecting</dd>
      <dt>you: backend</dt><dd id="c-you-backend">–</dd>
      <dt>you: migrations</dt><dd id="c-you-migrations">0</dd>
      <dt>you: inputs sent / processed</dt><dd id="c-you-inputs">0 / 0</dd>
      <dt>you: inputs lost</dt><dd id="c-you-lost">0</dd>
      <dt>you: disconnects</dt><dd id="c-you-disconnects">0</dd>
      <dt>you: resumed after a drop</dt><dd id="c-you-resumes">0</dd>
    </dl>
    <ul id="log"></ul>
  </aside>
</main>
<script type="module" src="/demo-page.js"></script>
</body>
</html>
`;
}
