// Subscribes with the graphql-ws client, as browsers' Apollo/urql set-ups
// do, and prints one JSON line per event: {"next": result},
// {"error": message} or {"complete": true}.
// Usage: node subscribe.mjs <ws-url> <token or ""> <query>
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, query] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: token ? { Authorization: `Bearer ${token}` } : undefined,
  retryAttempts: 0,
});
const print = (v) => process.stdout.write(JSON.stringify(v) + '\n');
try {
  for await (const result of client.iterate({ query })) print({ next: result });
  print({ complete: true });
} catch (err) {
  const msg = Array.isArray(err) ? err.map((e) => e.message).join('; ')
    : err?.reason || err?.message || String(err);
  print({ error: `${err?.code ?? ''} ${msg}`.trim() });
}
await client.dispose();
