import { Worker } from 'node:worker_threads';
import { chunkHasher, type Chunk, type ChunkResult } from './verify-chunks.js';

// The hashing half of verifyLog (verify.ts): the leaves' canonical bytes are written into chunks
// here and hashed inline or, for a large log, on a worker thread (verify-worker.ts) while the
// next chunk is encoded.

const IN_FLIGHT = 4;

/** Collects one chunk's canonical bytes, growing its buffer as needed. */
export class ChunkWriter {
  private bytes: Buffer;
  private readonly ends: Uint32Array;
  private readonly sealed: string[] = [];
  private readonly ids: (string | null)[] = [];
  private offset = 0;

  constructor(
    private readonly start: number,
    private readonly size: number,
    private readonly checkpointSizes: number[],
    spare?: { bytes: Uint8Array; ends: Uint32Array },
  ) {
    // Buffers of its own (never the shared pool), so that they can be transferred; a finished
    // chunk's are reused, since allocating large buffers per chunk makes V8 collect often.
    this.bytes = spare ? Buffer.from(spare.bytes.buffer) : Buffer.from(new ArrayBuffer(size * 768));
    this.ends = spare && spare.ends.buffer.byteLength >= size * 4 ? new Uint32Array(spare.ends.buffer) : new Uint32Array(size);
  }

  get count(): number {
    return this.sealed.length;
  }

  get full(): boolean {
    return this.sealed.length === this.size;
  }

  add(leafHash: string, id: string | null, canonical: string | undefined): void {
    if (canonical !== undefined) {
      // The 0x00 leaf prefix, then the entry: the hasher hashes the range as it is, no copy.
      // UTF-8 takes at most three bytes per UTF-16 unit.
      const need = this.offset + 1 + canonical.length * 3;
      if (need > this.bytes.length) {
        const grown = Buffer.from(new ArrayBuffer(Math.max(need, this.bytes.length * 2)));
        this.bytes.copy(grown, 0, 0, this.offset);
        this.bytes = grown;
      }
      this.bytes[this.offset++] = 0;
      this.offset += this.bytes.write(canonical, this.offset);
    }
    this.ends[this.sealed.length] = this.offset;
    this.sealed.push(leafHash);
    this.ids.push(id);
  }

  done(): Chunk {
    const end = this.start + this.sealed.length;
    return {
      start: this.start,
      bytes: this.bytes.subarray(0, this.offset),
      ends: this.ends.subarray(0, this.sealed.length),
      sealed: this.sealed,
      ids: this.ids,
      checkpointSizes: this.checkpointSizes.filter((n) => n > this.start && n <= end),
    };
  }
}

export interface Hasher {
  submit(chunk: Chunk): Promise<void>;
  /** The buffers of a chunk already hashed, to write the next one into. */
  spare(): { bytes: Uint8Array; ends: Uint32Array } | undefined;
  results(): Promise<ChunkResult[]>;
  close(): void;
}

export class InlineHasher implements Hasher {
  private readonly hash = chunkHasher();
  private readonly done: ChunkResult[] = [];
  submit(chunk: Chunk): Promise<void> {
    this.done.push(this.hash(chunk));
    return Promise.resolve();
  }
  spare() {
    return this.done.at(-1);
  }
  results(): Promise<ChunkResult[]> {
    return Promise.resolve(this.done);
  }
  close(): void {}
}

/** The hashing on a worker thread: chunks go in order, results come back in order. */
export class WorkerHasher implements Hasher {
  private readonly worker = startWorker();
  private readonly received: ChunkResult[] = [];
  private readonly spares: { bytes: Uint8Array; ends: Uint32Array }[] = [];
  private sent = 0;
  private failed?: Error;
  private waiting?: { until: number; resolve: () => void; reject: (err: Error) => void };

  constructor() {
    this.worker.on('message', (r: ChunkResult) => {
      this.received.push(r);
      this.spares.push({ bytes: r.bytes, ends: r.ends });
      this.wake();
    });
    this.worker.on('error', (err) => {
      this.failed = err;
      this.wake();
    });
    this.worker.on('exit', (code) => {
      this.failed ??= new Error(`verification worker exited (${code})`);
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiting;
    if (!w) return;
    if (this.received.length >= w.until) {
      this.waiting = undefined;
      w.resolve();
    } else if (this.failed) {
      this.waiting = undefined;
      w.reject(this.failed);
    }
  }

  private until(n: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting = { until: n, resolve, reject };
      this.wake();
    });
  }

  async submit(chunk: Chunk): Promise<void> {
    // A few chunks in flight at most: the encoded log is never all in memory at once.
    if (this.sent - this.received.length >= IN_FLIGHT) await this.until(this.sent - IN_FLIGHT + 1);
    this.sent++;
    // The bytes and ends move to the worker without a copy.
    this.worker.postMessage(chunk, [chunk.bytes.buffer as ArrayBuffer, chunk.ends.buffer as ArrayBuffer]);
  }

  spare() {
    return this.spares.pop();
  }

  async results(): Promise<ChunkResult[]> {
    await this.until(this.sent);
    return this.received;
  }

  close(): void {
    this.worker.removeAllListeners('exit');
    void this.worker.terminate();
  }
}

// Under tsx (tests, benchmarks) the worker is TypeScript and registers tsx itself; built, it is JavaScript.
function startWorker(): Worker {
  const typescript = import.meta.url.endsWith('.ts');
  const url = new URL(typescript ? './verify-worker.ts' : './verify-worker.js', import.meta.url).href;
  const source = typescript
    ? `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(url)}); })`
    : `import(${JSON.stringify(url)})`;
  return new Worker(source, { eval: true });
}
