import * as esbuild from 'esbuild';
const r = await esbuild.build({ entryPoints: [process.cwd() + '/generated/penguins/split.ts'], bundle: true, write: false, format: 'esm', platform: 'node', packages: 'external', metafile: true, treeShaking: true, absWorkingDir: process.cwd() + '/generated/penguins', logLevel: 'silent', legalComments: 'none', target: 'es2022', minifyWhitespace: false });
console.log(r.outputFiles[0].text);
console.log(JSON.stringify(r.metafile, null, 1).slice(0, 3000));
