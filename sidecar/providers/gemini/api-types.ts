/**
 * Gemini API (generativelanguage v1beta) wire types, camelCase as proto3 JSON
 * (provider-wire-formats.md section 3). Response fields are optional: streamed events carry
 * partial candidates, and a blocked prompt has no candidates at all.
 */

/** A request or response part; exactly one data field is set. */
export interface GeminiPart {
  text?: string;
  /** Marks a reasoning summary part. */
  thought?: boolean;
  /** Opaque; must be sent back on the same part in the next turn (Gemini 3 function calls). */
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType: string; fileUri: string };
  functionCall?: { name: string; args?: Record<string, unknown>; id?: string };
  functionResponse?: { name: string; response: Record<string, unknown>; id?: string };
}

/** One turn: `user` (also tool results) or `model`. */
export interface GeminiContent {
  role: 'user' | 'model';
  parts: GeminiPart[];
}

/** A tool; `parameters` is the OpenAPI-subset schema (see `toGeminiSchema`). */
export interface GeminiFunctionDeclaration {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

/** `generateContent` / `streamGenerateContent` body. */
export interface GeminiRequestBody {
  contents: GeminiContent[];
  systemInstruction?: { parts: Array<{ text: string }> };
  tools?: Array<{ functionDeclarations: GeminiFunctionDeclaration[] }>;
  toolConfig?: { functionCallingConfig: { mode: 'AUTO' | 'ANY' | 'NONE'; allowedFunctionNames?: string[] } };
  safetySettings?: Array<{ category: string; threshold: string }>;
  generationConfig?: {
    temperature?: number;
    topP?: number;
    topK?: number;
    maxOutputTokens?: number;
    stopSequences?: string[];
    presencePenalty?: number;
    frequencyPenalty?: number;
    seed?: number;
    responseMimeType?: string;
    responseSchema?: Record<string, unknown>;
    responseLogprobs?: boolean;
    logprobs?: number;
    thinkingConfig?: { includeThoughts?: boolean; thinkingBudget?: number; thinkingLevel?: 'low' | 'high' };
  };
}

/** `usageMetadata`; prompt includes cached tokens, candidates exclude thoughts. */
export interface GeminiWireUsage {
  promptTokenCount?: number | null;
  cachedContentTokenCount?: number | null;
  candidatesTokenCount?: number | null;
  thoughtsTokenCount?: number | null;
  toolUsePromptTokenCount?: number | null;
  totalTokenCount?: number | null;
}

/** A response, or one streamed event (each event is a whole response holding only new parts). */
export interface GeminiWireResponse {
  candidates?: Array<{
    content?: { role?: string | null; parts?: Array<Partial<GeminiPart>> | null } | null;
    finishReason?: string | null;
    index?: number | null;
  }> | null;
  promptFeedback?: { blockReason?: string | null } | null;
  usageMetadata?: GeminiWireUsage | null;
  modelVersion?: string | null;
  responseId?: string | null;
  /** Present on error chunks that arrive mid-stream. */
  error?: GeminiWireError | null;
}

/** `{"error":{code,message,status,details}}`. */
export interface GeminiWireError {
  code?: number | null;
  message?: string | null;
  status?: string | null;
  details?: Array<{ '@type'?: string | null; retryDelay?: string | null; reason?: string | null }> | null;
}
