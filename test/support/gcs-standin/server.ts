// TEST DOUBLE — a local stand-in for the Cloud Storage JSON API (v1), objects kept in memory.
//
// Why it exists: Cloud Storage cannot be reached from this machine (no network, no credentials),
// there is no GCS emulator in Debian or the npm registry, and the one in the Firebase tools
// ignores generation preconditions, which are what the shared store's lease and commit rest on.
// So the real `@google-cloud/storage` client is pointed here with `apiEndpoint:
// 'http://127.0.0.1:<port>'` (it then sends no credentials and makes no metadata lookup) and this
// server answers the requests the client actually makes, found by logging them. An unknown route
// answers 501 naming itself, so a client change shows up as a loud failure, not a silent pass.
//
// Covered:
//   POST   /upload/storage/v1/b/{b}/o?uploadType=multipart   metadata + media in one request
//   POST   /upload/storage/v1/b/{b}/o?uploadType=media       bytes only, name in the query
//   POST   /upload/storage/v1/b/{b}/o?uploadType=resumable   starts a session: `Location` header
//   PUT    <session Location>                                 the rest in one request (`bytes 0-*/*`,
//                                                             what the client sends without chunkSize) or
//                                                             chunks with Content-Range; 308 with `Range`
//                                                             until the last byte, then the object
//   GET    /storage/v1/b/{b}/o/{name}                         metadata; `?alt=media` the bytes,
//                                                             with `x-goog-hash: crc32c=…,md5=…`
//   GET    /storage/v1/b/{b}/o?prefix=&delimiter=&pageToken=&maxResults=   list, paged
//   DELETE /storage/v1/b/{b}/o/{name}
//   Object metadata with the md5Hash and crc32c (big-endian, base64) the client checks after an
//   upload (a wrong one makes the client call the upload failed and delete the object: see
//   `corruptNextHash`, which tests use to prove the check is live). Preconditions on uploads,
//   gets and deletes: ifGenerationMatch (0 = only if absent), ifGenerationNotMatch,
//   ifMetagenerationMatch; a failed one is HTTP 412 `conditionNotMet`, a missing object 404.
//   Generations increase on every write; only the live generation is kept.
//
// NOT covered (do not read a passing test as proof of these): authentication and IAM (any
// request is accepted), object versioning and reading old generations, PATCH/rewrite/copy/
// compose, ACLs, signed URLs, XML API, buckets' own API (buckets are given at start; an unknown
// one is 404), retention and holds, customer-managed encryption, range reads, gzip transcoding,
// `matchGlob`, rate limits (429) and the service's real latency and consistency model (this
// server is strongly consistent and instant, as GCS is for object reads after writes, but it
// never returns 5xx, so the client's retry paths are not exercised).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface StoredObject {
  name: string;
  bytes: Buffer;
  generation: number;
  metageneration: number;
  contentType: string;
  metadata?: Record<string, string>;
  created: string;
  updated: string;
}

interface Session {
  bucket: string;
  name: string;
  contentType: string;
  metadata?: Record<string, string>;
  preconditions: URLSearchParams;
  chunks: Buffer[];
  received: number;
}

/** One request as the stand-in saw it (tests read this to check which upload kind was used). */
export interface SeenRequest {
  method: string;
  path: string;
  uploadType?: string;
  status: number;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC32C (Castagnoli), as Cloud Storage computes it. crc32c('123456789') = 0xe3069283. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function crc32cBase64(bytes: Uint8Array): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32c(bytes));
  return b.toString('base64');
}

export class GcsStandin {
  readonly buckets = new Map<string, Map<string, StoredObject>>();
  readonly requests: SeenRequest[] = [];
  /** The next finished upload reports a wrong md5/crc32c (the client must then reject it). */
  corruptNextHash = false;
  private readonly sessions = new Map<string, Session>();
  private generation = 1_700_000_000_000_000;
  private server: Server | undefined;
  endpoint = '';

  constructor(buckets: string[]) {
    for (const b of buckets) this.buckets.set(b, new Map());
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          this.handle(req, Buffer.concat(chunks), res);
        } catch (error) {
          this.send(req, res, 500, { error: { code: 500, message: String(error) } });
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.endpoint;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** The live object's bytes, or undefined. */
  read(bucket: string, name: string): Buffer | undefined {
    return this.buckets.get(bucket)?.get(name)?.bytes;
  }

  names(bucket: string): string[] {
    return [...(this.buckets.get(bucket)?.keys() ?? [])].sort();
  }

  private handle(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const url = new URL(req.url!, 'http://standin');
    const q = url.searchParams;
    const method = req.method!;
    let m: RegExpExecArray | null;
    if ((m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname))) {
      const bucket = this.bucket(req, res, decodeURIComponent(m[1]!));
      if (!bucket) return;
      const type = q.get('uploadType') ?? '';
      if (method === 'POST' && type === 'multipart')
        return this.multipart(req, res, m[1]!, bucket, q, body);
      if (method === 'POST' && type === 'media')
        return this.finish(
          req,
          res,
          bucket,
          q.get('name') ?? '',
          String(req.headers['content-type'] ?? 'application/octet-stream'),
          undefined,
          q,
          body,
        );
      if (method === 'POST' && type === 'resumable')
        return this.startSession(req, res, decodeURIComponent(m[1]!), q, body);
      if (method === 'PUT' && type === 'resumable' && q.get('upload_id'))
        return this.putChunk(req, res, bucket, q.get('upload_id')!, body);
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname)) && method === 'GET') {
      const bucket = this.bucket(req, res, decodeURIComponent(m[1]!));
      if (bucket) this.list(req, res, decodeURIComponent(m[1]!), bucket, q);
      return;
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(url.pathname))) {
      const bucketName = decodeURIComponent(m[1]!);
      const bucket = this.bucket(req, res, bucketName);
      if (!bucket) return;
      const name = decodeURIComponent(m[2]!);
      const obj = bucket.get(name);
      if (method === 'GET' || method === 'DELETE') {
        if (!obj)
          return this.error(req, res, 404, 'notFound', `No such object: ${bucketName}/${name}`);
        const failed = this.precondition(obj, q);
        if (failed) return this.error(req, res, 412, 'conditionNotMet', failed);
        if (method === 'DELETE') {
          bucket.delete(name);
          return this.send(req, res, 204, undefined);
        }
        if (q.get('alt') === 'media') {
          res.setHeader(
            'x-goog-hash',
            `crc32c=${crc32cBase64(obj.bytes)},md5=${createHash('md5').update(obj.bytes).digest('base64')}`,
          );
          res.setHeader('x-goog-generation', String(obj.generation));
          res.setHeader('x-goog-metageneration', String(obj.metageneration));
          res.setHeader('x-goog-stored-content-length', String(obj.bytes.length));
          res.setHeader('content-type', obj.contentType);
          this.requests.push({ method, path: url.pathname, status: 200 });
          res.writeHead(200);
          res.end(obj.bytes);
          return;
        }
        return this.send(req, res, 200, this.resource(bucketName, obj));
      }
    }
    this.error(
      req,
      res,
      501,
      'notImplemented',
      `the GCS stand-in does not answer ${method} ${url.pathname}?${q} (see the header of test/support/gcs-standin/server.ts)`,
    );
  }

  private bucket(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
  ): Map<string, StoredObject> | undefined {
    const b = this.buckets.get(name);
    if (!b) this.error(req, res, 404, 'notFound', 'The specified bucket does not exist.');
    return b;
  }

  /** Undefined when every precondition in `q` holds for `obj` (undefined: the object is absent). */
  private precondition(obj: StoredObject | undefined, q: URLSearchParams): string | undefined {
    const gen = q.get('ifGenerationMatch');
    if (gen !== null) {
      const have = obj ? obj.generation : 0;
      if (Number(gen) !== have)
        return `At least one of the pre-conditions you specified did not hold. (ifGenerationMatch=${gen}, live generation ${have})`;
    }
    const notGen = q.get('ifGenerationNotMatch');
    if (notGen !== null && Number(notGen) === (obj ? obj.generation : 0))
      return 'At least one of the pre-conditions you specified did not hold. (ifGenerationNotMatch)';
    const meta = q.get('ifMetagenerationMatch');
    if (meta !== null && (!obj || Number(meta) !== obj.metageneration))
      return 'At least one of the pre-conditions you specified did not hold. (ifMetagenerationMatch)';
    return undefined;
  }

  private multipart(
    req: IncomingMessage,
    res: ServerResponse,
    _b: string,
    bucket: Map<string, StoredObject>,
    q: URLSearchParams,
    body: Buffer,
  ): void {
    const type = String(req.headers['content-type'] ?? '');
    const boundary = /boundary="?([^";]+)"?/.exec(type)?.[1];
    if (!boundary)
      return this.error(req, res, 400, 'invalid', 'multipart upload without a boundary');
    const parts = splitMultipart(body, boundary);
    if (parts.length !== 2)
      return this.error(
        req,
        res,
        400,
        'invalid',
        `multipart upload needs 2 parts, got ${parts.length}`,
      );
    const meta = JSON.parse(parts[0]!.body.toString('utf8')) as {
      name?: string;
      contentType?: string;
      metadata?: Record<string, string>;
    };
    const name = meta.name ?? q.get('name') ?? '';
    const contentType =
      parts[1]!.headers['content-type'] ?? meta.contentType ?? 'application/octet-stream';
    this.finish(req, res, bucket, name, contentType, meta.metadata, q, parts[1]!.body);
  }

  private startSession(
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    q: URLSearchParams,
    body: Buffer,
  ): void {
    const meta =
      body.length > 0
        ? (JSON.parse(body.toString('utf8')) as {
            name?: string;
            contentType?: string;
            metadata?: Record<string, string>;
          })
        : {};
    const name = meta.name ?? q.get('name') ?? '';
    // Preconditions are checked at the start too, as GCS does, and again when the upload ends.
    const failed = this.precondition(this.buckets.get(bucket)!.get(name), q);
    if (failed) return this.error(req, res, 412, 'conditionNotMet', failed);
    const id = randomBytes(12).toString('hex');
    this.sessions.set(id, {
      bucket,
      name,
      contentType: String(
        req.headers['x-upload-content-type'] ?? meta.contentType ?? 'application/octet-stream',
      ),
      metadata: meta.metadata,
      preconditions: new URLSearchParams(q),
      chunks: [],
      received: 0,
    });
    res.setHeader(
      'Location',
      `${this.endpoint}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&upload_id=${id}`,
    );
    this.send(req, res, 200, undefined);
  }

  private putChunk(
    req: IncomingMessage,
    res: ServerResponse,
    bucket: Map<string, StoredObject>,
    id: string,
    body: Buffer,
  ): void {
    const session = this.sessions.get(id);
    if (!session) return this.error(req, res, 404, 'notFound', `no upload session ${id}`);
    const range = String(req.headers['content-range'] ?? '');
    // "bytes 0-99/200", "bytes 100-199/*", "bytes */200" (a status query or an empty last chunk),
    // or "bytes 0-*/*": the client streams the rest in this one request (no chunkSize), and the
    // upload ends with the request.
    const streamed = /^bytes (\d+)-\*\/(\d+|\*)$/.exec(range);
    if (streamed) {
      if (Number(streamed[1]) !== session.received) return this.incomplete(req, res, session);
      session.chunks.push(body);
      session.received += body.length;
      if (streamed[2] !== '*' && session.received < Number(streamed[2]))
        return this.incomplete(req, res, session);
      this.sessions.delete(id);
      return this.finish(
        req,
        res,
        bucket,
        session.name,
        session.contentType,
        session.metadata,
        session.preconditions,
        Buffer.concat(session.chunks),
      );
    }
    const m = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(range);
    if (range && !m) return this.error(req, res, 400, 'invalid', `bad Content-Range '${range}'`);
    if (m?.[1] !== undefined) {
      const start = Number(m[1]);
      if (start !== session.received) {
        // A resent chunk: keep what we have, say how far we got.
        return this.incomplete(req, res, session);
      }
      session.chunks.push(body);
      session.received += body.length;
    } else if (!range) {
      session.chunks.push(body);
      session.received += body.length;
    }
    const total = !range ? session.received : m![3] === '*' ? undefined : Number(m![3]);
    if (total === undefined || session.received < total) return this.incomplete(req, res, session);
    this.sessions.delete(id);
    this.finish(
      req,
      res,
      bucket,
      session.name,
      session.contentType,
      session.metadata,
      session.preconditions,
      Buffer.concat(session.chunks),
    );
  }

  private incomplete(req: IncomingMessage, res: ServerResponse, session: Session): void {
    if (session.received > 0) res.setHeader('Range', `bytes=0-${session.received - 1}`);
    this.send(req, res, 308, undefined);
  }

  private finish(
    req: IncomingMessage,
    res: ServerResponse,
    bucket: Map<string, StoredObject>,
    name: string,
    contentType: string,
    metadata: Record<string, string> | undefined,
    q: URLSearchParams,
    bytes: Buffer,
  ): void {
    if (!name) return this.error(req, res, 400, 'required', 'Required: object name');
    const existing = bucket.get(name);
    const failed = this.precondition(existing, q);
    if (failed) return this.error(req, res, 412, 'conditionNotMet', failed);
    const now = new Date().toISOString();
    const obj: StoredObject = {
      name,
      bytes,
      generation: ++this.generation,
      metageneration: 1,
      contentType,
      metadata,
      created: now,
      updated: now,
    };
    bucket.set(name, obj);
    const bucketName = [...this.buckets].find(([, b]) => b === bucket)![0];
    const resource = this.resource(bucketName, obj);
    if (this.corruptNextHash) {
      this.corruptNextHash = false;
      resource.md5Hash = Buffer.alloc(16).toString('base64');
      resource.crc32c = 'AAAAAA==';
    }
    this.send(req, res, 200, resource);
  }

  private list(
    req: IncomingMessage,
    res: ServerResponse,
    bucketName: string,
    bucket: Map<string, StoredObject>,
    q: URLSearchParams,
  ): void {
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter');
    const max = Math.min(Number(q.get('maxResults') ?? 1000) || 1000, 1000);
    const names = [...bucket.keys()].filter((n) => n.startsWith(prefix)).sort();
    const items: StoredObject[] = [];
    const prefixes = new Set<string>();
    for (const n of names) {
      if (delimiter) {
        const cut = n.indexOf(delimiter, prefix.length);
        if (cut >= 0) {
          prefixes.add(n.slice(0, cut + delimiter.length));
          continue;
        }
      }
      items.push(bucket.get(n)!);
    }
    const start = Number(q.get('pageToken') ?? 0);
    const page = items.slice(start, start + max);
    const out: Record<string, unknown> = {
      kind: 'storage#objects',
      items: page.map((o) => this.resource(bucketName, o)),
    };
    if (prefixes.size > 0 && start === 0) out.prefixes = [...prefixes];
    if (start + max < items.length) out.nextPageToken = String(start + max);
    this.send(req, res, 200, out);
  }

  private resource(bucket: string, o: StoredObject): Record<string, unknown> {
    const id = `${bucket}/${o.name}/${o.generation}`;
    return {
      kind: 'storage#object',
      id,
      selfLink: `${this.endpoint}/storage/v1/b/${bucket}/o/${encodeURIComponent(o.name)}`,
      mediaLink: `${this.endpoint}/storage/v1/b/${bucket}/o/${encodeURIComponent(o.name)}?generation=${o.generation}&alt=media`,
      name: o.name,
      bucket,
      generation: String(o.generation),
      metageneration: String(o.metageneration),
      contentType: o.contentType,
      storageClass: 'STANDARD',
      size: String(o.bytes.length),
      md5Hash: createHash('md5').update(o.bytes).digest('base64'),
      crc32c: crc32cBase64(o.bytes),
      etag: Buffer.from(String(o.generation)).toString('base64'),
      timeCreated: o.created,
      updated: o.updated,
      ...(o.metadata ? { metadata: o.metadata } : {}),
    };
  }

  private error(
    req: IncomingMessage,
    res: ServerResponse,
    code: number,
    reason: string,
    message: string,
  ): void {
    this.send(req, res, code, {
      error: { code, message, errors: [{ domain: 'global', reason, message }] },
    });
  }

  private send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
    const url = new URL(req.url!, 'http://standin');
    this.requests.push({
      method: req.method!,
      path: url.pathname,
      uploadType: url.searchParams.get('uploadType') ?? undefined,
      status,
    });
    if (body === undefined) {
      res.writeHead(status, { 'content-length': '0' });
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=UTF-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }
}

function splitMultipart(
  body: Buffer,
  boundary: string,
): { headers: Record<string, string>; body: Buffer }[] {
  const delim = Buffer.from(`--${boundary}`);
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let at = body.indexOf(delim);
  while (at >= 0) {
    const start = at + delim.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delim, start);
    if (next < 0) break;
    // Each part: CRLF, headers, blank line, body, CRLF before the next delimiter.
    const part = body.subarray(start + 2, next - 2);
    const split = part.indexOf('\r\n\r\n');
    const headers: Record<string, string> = {};
    for (const line of part.subarray(0, split).toString('utf8').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0)
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    parts.push({ headers, body: part.subarray(split + 4) });
    at = next;
  }
  return parts;
}
