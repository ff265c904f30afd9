// A plain Node http server answering every request with the benchmark's JSON
// body: what a user would write instead of an engine (bench/scenario-http).
//   node http_node_server.mjs <port> <body-json>
import http from 'node:http';

const [port, body] = process.argv.slice(2);
http
  .createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  })
  .listen(Number(port), '127.0.0.1', () => console.log('ready'));
