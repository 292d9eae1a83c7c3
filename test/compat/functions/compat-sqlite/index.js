// SQLite through better-sqlite3 (a node-gyp addon, built by its install script at deploy).
const Database = require('better-sqlite3');

exports.handler = async (event) => {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (n INTEGER)');
  const insert = db.prepare('INSERT INTO t (n) VALUES (?)');
  for (const n of event.values ?? [1, 2, 3]) insert.run(n);
  const { total } = db.prepare('SELECT SUM(n) AS total FROM t').get();
  db.close();
  return { total };
};
