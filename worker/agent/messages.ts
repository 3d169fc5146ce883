import type { AssistantMessage, Message } from '@mariozechner/pi-ai';
import type { StoredMessage } from '../sessions/session-types.js';

/**
 * Conversions between the session file's message shape (ours, small, stable) and the
 * model library's. Sessions outlive library versions, so the library's types never
 * reach the disk.
 */

const ZERO_USAGE = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, totalTokens: 0, cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, total: 0 } };

/** Stored history to the library's context messages. */
export function toModelMessages(messages: StoredMessage[]): Message[] {
  return messages.map((message): Message => {
    switch (message.role) {
      case 'user':
        return { role: 'user', content: message.content, timestamp: message.ts };
      case 'assistant': {
        const content: AssistantMessage['content'] = [];
        if (message.content) content.push({ type: 'text', text: message.content });
        for (const call of message.toolCalls ?? []) content.push({ type: 'toolCall', id: call.id, name: call.name, arguments: call.arguments });
        return {
          role: 'assistant',
          content,
          api: message.api ?? 'unknown',
          provider: message.provider ?? 'unknown',
          model: message.model ?? 'unknown',
          usage: ZERO_USAGE,
          stopReason: message.toolCalls?.length ? 'toolUse' : 'stop',
          timestamp: message.ts,
        };
      }
      case 'tool':
        return {
          role: 'toolResult',
          toolCallId: message.toolCallId,
          toolName: message.toolName,
          content: [{ type: 'text', text: message.content }],
          isError: message.isError,
          timestamp: message.ts,
        };
    }
  });
}

/** The library's answer to what we store: text and tool calls, no thinking blocks. */
export function fromAssistantMessage(message: AssistantMessage): Extract<StoredMessage, { role: 'assistant' }> {
  const text = message.content.filter((block) => block.type === 'text').map((block) => block.text).join('');
  const toolCalls = message.content
    .filter((block) => block.type === 'toolCall')
    .map((block) => ({ id: block.id, name: block.name, arguments: block.arguments }));
  return {
    role: 'assistant',
    content: text,
    ts: message.timestamp,
    ...(toolCalls.length > 0 ? { toolCalls } : {}),
    provider: message.provider,
    model: message.model,
    api: message.api,
    usage: { input: message.usage.input, output: message.usage.output },
  };
}
