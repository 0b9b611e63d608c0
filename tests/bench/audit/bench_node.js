// The Aho-Corasick filters Node.js SCRM back-ends use, over the same words and messages:
// npm "ahocorasick" (search: every match) and "mint-filter" (filter without replacing: every
// word found). Prints, per filter, "<name>: <MB/s> MB/s <msg/s> msg/s <N> hits" (N: messages
// with at least one hit; MB = 10^6 bytes of UTF-8 text, as the C side counts).
// Usage: node bench_node.js NODE_MODULES WORDS.txt CORPUS.txt
'use strict';
const fs = require('fs');
const path = require('path');
const [modules, wordsPath, corpusPath] = process.argv.slice(2);
const AhoCorasick = require(path.join(modules, 'ahocorasick'));
const mintModule = require(path.join(modules, 'mint-filter'));
const Mint = mintModule.Mint || mintModule.default || mintModule;

const words = fs.readFileSync(wordsPath, 'utf8').split('\n').filter((w) => w.length > 0);
const corpus = fs.readFileSync(corpusPath);
const messages = corpus.toString('utf8').split('\n');
if (messages.length && messages[messages.length - 1] === '') messages.pop();
const bytes = corpus.length - messages.length; // without the newlines

function run(name, build, hasHit) {
  const t0 = process.hrtime.bigint();
  const filter = build();
  const t1 = process.hrtime.bigint();
  let withHits = 0;
  for (const m of messages) if (hasHit(filter, m)) withHits++;
  const el = Number(process.hrtime.bigint() - t1) / 1e9;
  console.log(`${name}: built in ${(Number(t1 - t0) / 1e6).toFixed(0)} ms`);
  console.log(`${name}: ${(bytes / el / 1e6).toFixed(1)} MB/s ${(messages.length / el).toFixed(0)} msg/s ${withHits} hits`);
}

run('ahocorasick', () => new AhoCorasick(words), (f, m) => f.search(m).length > 0);
run('mint-filter', () => new Mint(words), (f, m) => f.filter(m, { replace: false }).words.length > 0);
