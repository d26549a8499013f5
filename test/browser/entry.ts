// A `<script type="module">` run inside Chromium by test/browser.test.ts: the shipped client
// bundle (every library import here resolves to `/baton-client.js`) over the browser's own
// WebSocket or its own RTCPeerConnection, talking to a Node server.
import { browserWebRtcClient, browserWebSocketClient, Client } from '../../src/client/browser.js';
import { Chat, protocol } from '../helpers/protocol.js';

async function runBaton(
  url: string,
  count: number,
  transport: 'websocket' | 'webrtc',
): Promise<{ echoed: string[]; disconnect: string }> {
  const client = new Client(protocol, {});
  const echoed: string[] = [];
  let disconnect = '';
  client.on('disconnect', (reason) => {
    disconnect = reason;
  });
  client.onMessage(Chat, (value) => {
    echoed.push(value.text);
  });
  const dial = transport === 'webrtc' ? browserWebRtcClient(url) : browserWebSocketClient(url);
  await client.connect(dial, { username: 'browser' });
  for (let i = 0; i < count; i++) client.send('chat', Chat, { from: 1, text: `m${i}` });
  const deadline = performance.now() + 10_000;
  while (echoed.length < count && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await client.close('browser done');
  return { echoed, disconnect };
}

(globalThis as unknown as { runBaton: typeof runBaton }).runBaton = runBaton;
