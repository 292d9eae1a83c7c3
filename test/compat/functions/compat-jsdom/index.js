// HTML parsing with jsdom (it starts its synchronous-XHR worker from one of its own files).
const { JSDOM } = require('jsdom');

exports.handler = async (event) => {
  const dom = new JSDOM(event.html ?? '<ul><li>a</li><li>b</li></ul><p id="x">hi</p>');
  const doc = dom.window.document;
  const result = { items: doc.querySelectorAll('li').length, text: doc.getElementById('x')?.textContent ?? null };
  dom.window.close();
  return result;
};
