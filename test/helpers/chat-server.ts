// A loopback OpenAI-compatible server for tests: POST /v1/chat/completions, answered by a handler
// the test sets; counts calls and the most requests in flight at once.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface ChatRequest { model: string; messages: { role: string; content: string }[]; temperature?: number }
export type ChatHandler = (req: ChatRequest, call: number, res: ServerResponse) => void | Promise<void>;

export function chatReply(res: ServerResponse, content: string, delayMs = 0): Promise<void> {
  const body = JSON.stringify({
    id: 'chatcmpl-test', object: 'chat.completion', created: 0, model: 'test',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });
  return new Promise((resolve) => setTimeout(() => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    resolve();
  }, delayMs));
}

export function chatError(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ error: { message: `status ${status}`, type: 'test' } }));
}

export interface ChatServer {
  url: string;
  calls: number;
  inFlight: number;
  maxInFlight: number;
  requests: ChatRequest[];
  handler: ChatHandler;
  reset(handler: ChatHandler): void;
  close(): Promise<void>;
}

export async function startChatServer(handler: ChatHandler): Promise<ChatServer> {
  const state: ChatServer = {
    url: '', calls: 0, inFlight: 0, maxInFlight: 0, requests: [], handler,
    reset(h) { this.calls = 0; this.maxInFlight = 0; // inFlight is live: requests aborted earlier still close later
      this.requests = []; this.handler = h; },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatRequest;
    const call = state.calls++;
    state.requests.push(body);
    state.inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    res.on('close', () => state.inFlight--);
    try {
      await state.handler(body, call, res);
    } catch {
      if (!res.headersSent) res.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address() as { port: number };
  state.url = `http://127.0.0.1:${addr.port}/v1`;
  return state;
}
