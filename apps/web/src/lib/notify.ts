import { notifications } from '@mantine/notifications';
import { describeError } from '../api/api-error';

export function notifyError(e: unknown, title?: string): void {
  const d = describeError(e);
  notifications.show({
    color: 'red',
    title: title ?? d.title,
    message: title ? `${d.title}${d.message ? ` — ${d.message}` : ''}` : d.message || d.title,
    autoClose: 8000,
  });
}

export function notifyOk(message: string, title?: string): void {
  notifications.show({ color: 'teal', title, message, autoClose: 3000 });
}
