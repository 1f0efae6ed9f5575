import { notifications } from '@mantine/notifications';
import { describeError, isApiError } from '../api/api-error';

/** An error toast with the server's problem+json detail and hint (or the error's message). */
export function notifyError(e: unknown, title?: string): void {
  const d = describeError(e);
  let message: string;
  if (!title) message = d.message || d.title;
  else if (isApiError(e)) message = `${d.title}${d.message ? ` — ${d.message}` : ''}`;
  else message = e instanceof Error ? e.message : String(e);
  notifications.show({ color: 'red', title: title ?? d.title, message, autoClose: 8000 });
}

export function notifyOk(message: string, title?: string): void {
  notifications.show({ color: 'teal', title, message, autoClose: 3000 });
}
