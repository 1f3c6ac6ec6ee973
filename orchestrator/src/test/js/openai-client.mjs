// Drives the official openai npm client against a live orchestrator (HttpApiIT runs it) and prints one JSON
// object per line for the test to check: what a user's code written for OpenAI's images API gets from this suite.
// Usage: OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 OPENAI_API_KEY=token MODEL=name INIT_PNG=file node openai-client.mjs
import OpenAI, { toFile } from 'openai';
import { readFileSync } from 'node:fs';

const client = new OpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY, maxRetries: 0 });
const out = (o) => console.log(JSON.stringify(o));
const failure = (kind, e) => out({ kind, status: e.status, param: e.param ?? e.error?.param ?? null, code: e.code ?? null,
  type: e.type ?? null, message: e.message, name: e.constructor.name });

const models = await client.models.list();
out({ kind: 'models', ids: models.data.map((m) => m.id) });

const generated = await client.images.generate({
  model: process.env.MODEL, prompt: 'a red circle on the left', size: '64x64', n: 2, response_format: 'b64_json',
  sd: { seed: 1234, steps: 3, negative_prompt: 'blue', sampler: 'Euler a' },
});
out({ kind: 'b64_json', created: generated.created, images: generated.data.map((d) => d.b64_json), sd: generated.sd });

const linked = await client.images.generate({ prompt: 'a green square', size: '64x64', sd: { seed: 7, steps: 2 } });
const fetched = [];
for (const d of linked.data) {
  const r = await fetch(d.url); // OpenAI's image URLs need no key; ours neither (the job id is the capability)
  fetched.push({ url: d.url, status: r.status, type: r.headers.get('content-type'),
    b64: Buffer.from(await r.arrayBuffer()).toString('base64') });
}
out({ kind: 'url', fetched, sd: linked.sd });

const edited = await client.images.edit({
  image: await toFile(readFileSync(process.env.INIT_PNG), 'init.png', { type: 'image/png' }),
  prompt: 'a blue triangle', response_format: 'b64_json', sd: { seed: 99, steps: 4, strength: 0.5 },
});
out({ kind: 'edit', images: edited.data.map((d) => d.b64_json), sd: edited.sd });

try {
  await client.images.generate({ prompt: 'too small', size: '60x64' });
  out({ kind: 'bad-size', status: 200 });
} catch (e) { failure('bad-size', e); }

try {
  await client.images.generate({ prompt: 'x', size: '64x64', style: 'vivid' });
  out({ kind: 'style', status: 200 });
} catch (e) { failure('style', e); }

try {
  await new OpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: 'wrong-key', maxRetries: 0 })
    .images.generate({ prompt: 'x', size: '64x64' });
  out({ kind: 'wrong-key', status: 200 });
} catch (e) { failure('wrong-key', e); }
