// A WebSocket client on Node's `ws` (the library behind wscat), for the end-to-end tests.
//
//   NODE_PATH=/usr/share/nodejs node ws_client.js URL            # echo round trips, ping, close
//   NODE_PATH=/usr/share/nodejs node ws_client.js URL --send N   # send N bytes, report the close
//
// Prints one JSON object per line: {"event":"open",...}, {"event":"echo",...,"ok":true},
// {"event":"pong",...}, {"event":"close","code":1000,...}, {"event":"error",...}.
// Exits 0 when every echo matched and the connection closed; 1 otherwise; 2 on timeout.
'use strict';
const WebSocket = require('ws');
const crypto = require('crypto');

const url = process.argv[2];
const sendIdx = process.argv.indexOf('--send');
const sendSize = sendIdx > 0 ? parseInt(process.argv[sendIdx + 1], 10) : null;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
let failed = false;

const timer = setTimeout(() => { out({ event: 'timeout' }); process.exit(2); }, 60000);

const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });

ws.on('open', async () => {
  out({ event: 'open', ws_version: require('ws/package.json').version, extensions: ws.extensions });
  if (sendSize !== null) {
    ws.send(Buffer.alloc(sendSize, 0x61), { binary: true }, () => {});
    return; // the server is expected to close
  }
  const cases = [
    ['text', 'hello from node'],
    ['text', ''],
    ['text', 'ünïcødé ✓ 🚀'],
    ['text', 'x'.repeat(70000)],
  ];
  for (const n of [0, 1, 125, 126, 65535, 65536, 1 << 20]) cases.push(['binary', crypto.randomBytes(n)]);
  for (const [kind, payload] of cases) {
    const reply = await roundTrip(payload, kind === 'binary');
    const ok = reply.isBinary === (kind === 'binary') &&
      (kind === 'binary' ? Buffer.compare(reply.data, payload) === 0 : reply.data.toString('utf8') === payload);
    if (!ok) failed = true;
    out({ event: 'echo', kind, size: kind === 'binary' ? payload.length : Buffer.byteLength(payload), ok });
  }
  ws.once('pong', (data) => {
    out({ event: 'pong', data: data.toString() });
    ws.close(1000, 'done');
  });
  ws.ping('node-ping');
});

function roundTrip(payload, binary) {
  return new Promise((resolve) => {
    ws.once('message', (data, isBinary) => resolve({ data, isBinary }));
    ws.send(payload, { binary });
  });
}

ws.on('close', (code, reason) => {
  out({ event: 'close', code, reason: reason.toString() });
  clearTimeout(timer);
  process.exit(failed ? 1 : 0);
});

ws.on('error', (err) => {
  out({ event: 'error', message: String(err && err.message) });
  failed = true;
});
