// The typical peer stack for the callback benchmark: Node.js, @wecom/crypto and pg, one INSERT
// per callback (committed before the 200), into the same callback_events table as wegate.
//   node peer.js PORT DATABASE_URL TOKEN ENCODING_AES_KEY RECEIVE_ID
const http = require('http');
const { createHash } = require('crypto');
const { getSignature, decrypt } = require('@wecom/crypto');
const { Pool } = require('pg');
const [port, dbUrl, token, aesKey, receiveId] = process.argv.slice(2);
const pool = new Pool({ connectionString: dbUrl, max: 20 });
const field = (xml, tag) => {
  const m = new RegExp(`<${tag}>(?:<!\\[CDATA\\[)?(.*?)(?:\\]\\]>)?</${tag}>`, 's').exec(xml);
  return m ? m[1] : null;
};
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const q = new URL(req.url, 'http://x').searchParams;
    const encrypt = field(Buffer.concat(chunks).toString(), 'Encrypt');
    if (!encrypt) return res.writeHead(400).end('bad envelope');
    if (getSignature(token, q.get('timestamp'), q.get('nonce'), encrypt) !== q.get('msg_signature'))
      return res.writeHead(403).end('bad signature');
    const { message, id } = decrypt(aesKey, encrypt);
    if (id !== receiveId) return res.writeHead(400).end('bad receive id');
    try {
      await pool.query(
        'insert into callback_events (corp, dedupe_key, create_time, msg_type, event, change_type,' +
          ' user_id, external_user_id, xml) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)' +
          ' on conflict (corp, dedupe_key) do nothing',
        ['demo', createHash('sha256').update(message).digest(), field(message, 'CreateTime'),
          field(message, 'MsgType'), field(message, 'Event'), field(message, 'ChangeType'),
          field(message, 'UserID'), field(message, 'ExternalUserID'), message]);
      res.writeHead(200).end();
    } catch (e) {
      res.writeHead(503).end('database');
    }
  });
}).listen(Number(port), '127.0.0.1', () => console.error(`peer.js on 127.0.0.1:${port}`));
