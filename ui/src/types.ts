/** Shapes of the API's answers that the page reads (see the README's HTTP API). */

export interface AgentStatus {
  id: string;
  enabled: boolean;
  default: boolean;
  model: string | null;
  provider: string;
  configured: boolean;
  problem: string | null;
}

export interface GatewayStatus {
  version: string;
  node: string;
  uptime: number;
  startedAt: string;
  pid: number;
  workerPid: number;
  host: string;
  port: number;
  channels: string[];
  agents: AgentStatus[];
}

export interface SessionSummary {
  key: string;
  agentId: string;
  channel: string;
  peerId: string;
  createdAt: string;
  updatedAt: string;
  messageCount: number;
}

export interface SessionMessage {
  seq: number;
  role: 'user' | 'assistant' | 'tool';
  content: string;
  timestamp: string;
  toolName?: string;
  isError?: boolean;
}

export interface CronRun {
  trigger: 'schedule' | 'catch-up' | 'manual';
  scheduledFor: string | null;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  status: 'ok' | 'error';
  error?: string;
  reply?: string;
  deliveredTo?: string;
}

export interface CronJob {
  id: string;
  name: string | null;
  schedule: string | null;
  at: string | null;
  timezone: string;
  message: string;
  agentId: string;
  channel: string | null;
  chat_id: string | null;
  enabled: boolean;
  nextRunAt: string | null;
  lastRun: CronRun | null;
  running: { trigger: string; startedAt: string } | null;
  runs: CronRun[];
}

export interface LogEntry {
  level: number;
  time: number;
  msg?: string;
  component?: string;
  proc?: string;
  [key: string]: unknown;
}
