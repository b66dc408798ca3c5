// A control for the fixed-rate test: a node:http server in its own process that
// reads the body and answers 201 with a small JSON, touching nothing else. What
// it costs is the floor of any HTTP sidecar on this machine.
// Usage: node --import tsx bench/lib/noop-server.ts PORT
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const reply = JSON.stringify({ stored: 1 });
createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(201, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(reply),
    });
    res.end(reply);
  });
}).listen(port, '127.0.0.1', () => process.send?.('listening'));
