/** Where a tool call comes from: the session the agent is answering in. */
export interface ToolContext {
  sessionKey: string;
  agentId: string;
  channel: string;
  peerId: string;
  /** Aborted when the turn times out or the worker shuts down. */
  signal: AbortSignal;
}

/** What a tool returns: text for the model, flagged when it reports a failure. */
export type ToolOutput = string | { text: string; isError?: boolean };

/**
 * A tool the model may call. `parameters` is a JSON Schema object (type "object");
 * arguments are validated against it before `execute` runs. Throwing from `execute`
 * is fine: the message goes back to the model as an error result.
 */
export interface AgentTool {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
  execute(args: Record<string, unknown>, context: ToolContext): ToolOutput | Promise<ToolOutput>;
}

export interface ToolRegistry {
  /** Adds a tool; returns a function that removes it again. Throws on a duplicate or bad name. */
  register(tool: AgentTool): () => void;
  get(name: string): AgentTool | undefined;
  /** Registration order. */
  list(): AgentTool[];
}

// What OpenAI and Anthropic both accept as a function name.
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * The tools every agent gets. The agent issue registers the clock; the channel and
 * cron features register theirs on the same registry in features.ts.
 */
export function createToolRegistry(): ToolRegistry {
  const tools = new Map<string, AgentTool>();
  return {
    register(tool) {
      if (!TOOL_NAME.test(tool.name)) throw new Error(`Invalid tool name "${tool.name}": use 1-64 of [a-zA-Z0-9_-]`);
      if (tools.has(tool.name)) throw new Error(`A tool named "${tool.name}" is already registered`);
      if (tool.parameters.type !== 'object') throw new Error(`Tool "${tool.name}": parameters must be a JSON Schema of type "object"`);
      tools.set(tool.name, tool);
      return () => {
        if (tools.get(tool.name) === tool) tools.delete(tool.name);
      };
    },
    get: (name) => tools.get(name),
    list: () => [...tools.values()],
  };
}
