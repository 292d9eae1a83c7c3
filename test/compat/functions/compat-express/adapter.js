// A minimal handler adapter for Node HTTP apps (the idea of serverless-http): the event
// { method, path, headers, body } becomes an http.IncomingMessage on a socket-less stream, the
// app writes an http.ServerResponse, and the handler returns { status, headers, body }.
const http = require('http');
const { Duplex } = require('stream');

exports.toHandler = (app) => (event) =>
  new Promise((resolve) => {
    const socket = new Duplex({ read() {}, write(_chunk, _encoding, callback) { callback(); } });
    const req = new http.IncomingMessage(socket);
    const body = event.body === undefined ? '' : typeof event.body === 'string' ? event.body : JSON.stringify(event.body);
    req.method = event.method ?? 'GET';
    req.url = event.path ?? '/';
    req.headers = { host: 'thaw', ...(body ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}), ...event.headers };
    req.push(body || null);
    if (body) req.push(null);
    const res = new http.ServerResponse(req);
    const chunks = [];
    res.write = (chunk) => (chunks.push(Buffer.from(chunk)), true);
    res.end = (chunk) => {
      if (chunk) chunks.push(Buffer.from(chunk));
      const text = Buffer.concat(chunks).toString('utf8');
      let parsed = text;
      try { parsed = JSON.parse(text); } catch {}
      resolve({ status: res.statusCode, type: String(res.getHeader('content-type') ?? ''), body: parsed });
      return res;
    };
    app(req, res);
  });
