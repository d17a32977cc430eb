import { CodeHasher } from '../runtime/key/codehash.js';
import { pathToFileURL } from 'node:url';
const h = new CodeHasher('/tmp/trust/memo.json');
for (const t of process.argv.slice(2)) { const fp = await h.fingerprint(pathToFileURL(t).href); console.log(t, JSON.stringify(fp), h.envRead(pathToFileURL(t).href)); }
h.save();
