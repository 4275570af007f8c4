// One OpenAI-compatible chat client for explainers and simulators: bounded concurrency, our own
// retries (exponential backoff with jitter, Retry-After respected) on 429, 5xx, timeouts, dropped
// connections and malformed or empty replies, and an on-disk cache so a rerun costs nothing.
// The openai package's own retries are disabled (maxRetries: 0): the retries counted are these.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { invalidType } from '../../errors.js';
import { writeJsonAtomic } from '../../io/atomic.js';
import { checkInt } from '../../validate.js';

export interface ChatMessage { role: 'system' | 'user' | 'assistant'; content: string }

export interface ChatClientOptions {
  /** Model name sent to the server (default gpt-4). */
  model?: string;
  /** An OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (default: OPENAI_BASE_URL, else OpenAI's). */
  baseURL?: string;
  /** Default: OPENAI_API_KEY; a key is required for OpenAI's own server only. */
  apiKey?: string;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** Retries after the first attempt (default 5). */
  maxRetries?: number;
  /** Per-request timeout in ms (default 60000). */
  timeoutMs?: number;
  /** First backoff in ms, doubled per retry, with jitter (default 1000). */
  retryBaseMs?: number;
  /** Longest backoff in ms (default 60000); a server's Retry-After is honoured up to 120 s. */
  retryMaxMs?: number;
  /** Sampling temperature; unset means the server's default (the paper's setting). */
  temperature?: number;
  /** Folder of cached replies (`<sha256>.json`); none when unset. */
  cacheDir?: string;
}

export const CHAT_DEFAULTS = Object.freeze({
  model: 'gpt-4',
  concurrency: 4,
  maxRetries: 5,
  timeoutMs: 60_000,
  retryBaseMs: 1000,
  retryMaxMs: 60_000,
});

export interface ChatResult {
  /** The reply text after `accept`, or null when every attempt failed. */
  text: string | null;
  error?: string;
  cached: boolean;
  /** HTTP attempts made for this call (0 on a cache hit). */
  attempts: number;
}

export interface ChatStats { requests: number; retries: number; cacheHits: number; failures: number }

/** A reply the caller cannot use (empty, unparsable): retried like a server error. */
export class MalformedReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedReplyError';
  }
}

/** A counting semaphore: at most `limit` holders at once, released in FIFO order. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The longest Retry-After honoured; a server asking for more gets this. */
const RETRY_AFTER_MAX_MS = 120_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Milliseconds a server asked us to wait (retry-after-ms, or Retry-After in seconds or as a date). */
function retryAfterMs(headers: Headers | undefined): number | undefined {
  if (!headers) return undefined;
  const ms = Number(headers.get('retry-after-ms'));
  if (headers.get('retry-after-ms') !== null && Number.isFinite(ms) && ms >= 0) return ms;
  const ra = headers.get('retry-after');
  if (ra === null) return undefined;
  const secs = Number(ra);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const date = Date.parse(ra);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/** Whether an error is worth another attempt, and a one-line description of it. */
function classify(err: unknown): { retry: boolean; message: string; waitMs?: number } {
  if (err instanceof MalformedReplyError) return { retry: true, message: err.message };
  if (err instanceof OpenAI.APIConnectionTimeoutError) return { retry: true, message: 'request timed out' };
  if (err instanceof OpenAI.APIConnectionError) return { retry: true, message: `connection failed: ${err.message}` };
  if (err instanceof OpenAI.APIError) {
    const status = err.status ?? 0;
    const retry = status === 408 || status === 409 || status === 429 || status >= 500;
    return { retry, message: `HTTP ${status}: ${err.message}`, waitMs: retryAfterMs(err.headers) };
  }
  // A body that is not JSON, or JSON without the chat-completion shape.
  const e = err as Error;
  return { retry: true, message: `malformed reply: ${e?.message ?? String(err)}` };
}

export class ChatClient {
  readonly model: string;
  readonly baseURL: string | undefined;
  readonly stats: ChatStats = { requests: 0, retries: 0, cacheHits: 0, failures: 0 };
  private readonly client: OpenAI;
  private readonly limiter: Limiter;
  private readonly opts: Required<Omit<ChatClientOptions, 'baseURL' | 'apiKey' | 'temperature' | 'cacheDir'>> & Pick<ChatClientOptions, 'temperature' | 'cacheDir'>;

  constructor(options: ChatClientOptions = {}) {
    if (options === null || typeof options !== 'object') throw invalidType('ChatClientOptions object', 'options', options);
    const model = options.model ?? CHAT_DEFAULTS.model;
    const baseURL = options.baseURL ?? (process.env.OPENAI_BASE_URL || undefined);
    if (typeof model !== 'string' || model.length === 0) throw invalidType('non-empty model name', 'model', model);
    if (baseURL !== undefined && (typeof baseURL !== 'string' || !/^https?:\/\//.test(baseURL))) {
      throw invalidType('http(s) URL', options.baseURL !== undefined ? 'baseURL' : 'OPENAI_BASE_URL', baseURL);
    }
    if (options.temperature !== undefined && (typeof options.temperature !== 'number' || !(options.temperature >= 0 && options.temperature <= 2))) {
      throw invalidType('number between 0 and 2', 'temperature', options.temperature);
    }
    const apiKey = options.apiKey ?? process.env.OPENAI_API_KEY;
    if (!apiKey && !baseURL) {
      throw invalidType('an API key (set OPENAI_API_KEY or pass apiKey) for the OpenAI server', 'apiKey', apiKey);
    }
    this.model = model;
    this.baseURL = baseURL;
    this.opts = {
      model,
      concurrency: checkInt(options.concurrency ?? CHAT_DEFAULTS.concurrency, 'concurrency', 1, 256),
      maxRetries: checkInt(options.maxRetries ?? CHAT_DEFAULTS.maxRetries, 'maxRetries', 0, 100),
      timeoutMs: checkInt(options.timeoutMs ?? CHAT_DEFAULTS.timeoutMs, 'timeoutMs', 1),
      retryBaseMs: checkInt(options.retryBaseMs ?? CHAT_DEFAULTS.retryBaseMs, 'retryBaseMs', 0),
      retryMaxMs: checkInt(options.retryMaxMs ?? CHAT_DEFAULTS.retryMaxMs, 'retryMaxMs', 0),
      temperature: options.temperature,
      cacheDir: options.cacheDir,
    };
    this.limiter = new Limiter(this.opts.concurrency);
    // A local server needs no key; the openai package insists on one, so a placeholder goes along.
    this.client = new OpenAI({ apiKey: apiKey || 'unused', baseURL, maxRetries: 0, timeout: this.opts.timeoutMs });
  }

  /** The cache key of a request: (purpose, model, base URL, hash of the messages and temperature). */
  cacheKey(purpose: string, messages: ChatMessage[]): string {
    const promptHash = sha256(JSON.stringify({ messages, temperature: this.opts.temperature ?? null }));
    return sha256(JSON.stringify({ purpose, model: this.model, baseURL: this.baseURL ?? 'https://api.openai.com/v1', promptHash }));
  }

  /**
   * Send `messages` and return the reply text passed through `accept` (which throws
   * MalformedReplyError for a reply it cannot use). Never throws for server or reply trouble: after
   * the retries run out the result carries `error` and `text: null`. Successful replies are cached
   * under `purpose` when a cache folder is set.
   */
  async complete(purpose: string, messages: ChatMessage[], accept: (reply: string) => string = (r) => r): Promise<ChatResult> {
    const key = this.cacheKey(purpose, messages);
    const cacheFile = this.opts.cacheDir ? join(this.opts.cacheDir, `${key}.json`) : undefined;
    if (cacheFile && existsSync(cacheFile)) {
      try {
        const hit = JSON.parse(readFileSync(cacheFile, 'utf8')) as { reply?: unknown };
        if (typeof hit.reply === 'string') {
          const text = accept(hit.reply);
          this.stats.cacheHits++;
          return { text, cached: true, attempts: 0 };
        }
      } catch {
        // an unreadable or stale cache entry is ignored and replaced below
      }
    }
    let attempts = 0;
    let lastError = 'no attempt made';
    for (let attempt = 0; attempt <= this.opts.maxRetries; attempt++) {
      if (attempt > 0) this.stats.retries++;
      attempts++;
      let waitMs: number | undefined;
      try {
        const reply = await this.limiter.run(() => this.request(messages));
        const text = accept(reply);
        if (cacheFile) {
          writeJsonAtomic(cacheFile, { purpose, model: this.model, baseURL: this.baseURL ?? null, messages, reply, createdAt: new Date().toISOString() });
        }
        return { text, cached: false, attempts };
      } catch (err) {
        const c = classify(err);
        lastError = c.message;
        if (!c.retry) break;
        waitMs = c.waitMs;
      }
      if (attempt < this.opts.maxRetries) {
        const backoff = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** attempt);
        const jittered = backoff * (0.5 + 0.5 * Math.random());
        await sleep(Math.max(jittered, Math.min(RETRY_AFTER_MAX_MS, waitMs ?? 0)));
      }
    }
    this.stats.failures++;
    return { text: null, error: `${lastError} (after ${attempts} attempt${attempts === 1 ? '' : 's'})`, cached: false, attempts };
  }

  private async request(messages: ChatMessage[]): Promise<string> {
    this.stats.requests++;
    const body: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming = { model: this.model, messages };
    if (this.opts.temperature !== undefined) body.temperature = this.opts.temperature;
    const res = await this.client.chat.completions.create(body);
    const content = (res as { choices?: { message?: { content?: unknown } }[] })?.choices?.[0]?.message?.content;
    if (typeof content !== 'string' || content.trim().length === 0) throw new MalformedReplyError('empty reply (no choices[0].message.content)');
    return content;
  }
}
