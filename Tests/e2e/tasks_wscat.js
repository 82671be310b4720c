// A wscat-like subscriber on Node's `ws`, for Tests/e2e/test_tasks_node_ws.py.
//
//   NODE_PATH=/usr/share/nodejs node tasks_wscat.js 'ws://127.0.0.1:PORT/ws?topic=tasks' [--until EVENT] [--timeout S]
//
// Prints every text message exactly as received, one per line (what `wscat -c URL` shows
// without its prompt), and exits 0 after the first task message whose event is EVENT
// (default: succeeded), 3 when a message is binary or spans lines, 2 on timeout, 1 on error.
'use strict';
const WebSocket = require('ws');

const url = process.argv[2];
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const until = arg('--until', 'succeeded');
const timeoutS = parseFloat(arg('--timeout', '30'));

const timer = setTimeout(() => { process.stderr.write('timeout\n'); process.exit(2); }, timeoutS * 1000);
const ws = new WebSocket(url);

ws.on('open', () => process.stderr.write('open\n'));
ws.on('message', (data, isBinary) => {
  const text = data.toString('utf8');
  if (isBinary || text.includes('\n')) {
    process.stderr.write(`bad frame: binary=${isBinary}\n`);
    process.exit(3);
  }
  process.stdout.write(text + '\n');
  let msg;
  try { msg = JSON.parse(text); } catch (e) { return; }
  if (msg.type === 'task' && msg.event === until) {
    clearTimeout(timer);
    ws.close(1000, 'seen');
  }
});
ws.on('close', (code) => {
  process.stderr.write(`close ${code}\n`);
  clearTimeout(timer);
  process.exit(0);
});
ws.on('error', (err) => {
  process.stderr.write(`error ${err && err.message}\n`);
  process.exit(1);
});
