import { randomUUID } from 'node:crypto';

/** HubSpot's JSON error body. */
export interface HubSpotErrorBody {
  status: 'error';
  message: string;
  correlationId: string;
  category?: string;
  [extra: string]: unknown;
}

export function errorBody(message: string, category: string | undefined, extra: Record<string, unknown> = {}): HubSpotErrorBody {
  const body: HubSpotErrorBody = { status: 'error', message, correlationId: randomUUID() };
  if (category !== undefined) body.category = category;
  return Object.assign(body, extra);
}

export const validationError = (message: string, extra: Record<string, unknown> = {}): HubSpotErrorBody =>
  errorBody(message, 'VALIDATION_ERROR', extra);

export const notFoundError = (): HubSpotErrorBody => errorBody('resource not found', 'OBJECT_NOT_FOUND');
