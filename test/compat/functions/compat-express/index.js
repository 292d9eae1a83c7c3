// An express app behind a handler: the adapter turns the event into a request and collects the response.
const express = require('express');
const { toHandler } = require('./adapter.js');

const app = express();
app.use(express.json());
app.get('/hello/:name', (req, res) => res.json({ hello: req.params.name, q: req.query.q ?? null }));
app.post('/echo', (req, res) => res.status(201).json({ got: req.body }));

exports.handler = toHandler(app);
