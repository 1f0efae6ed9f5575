import { useEffect, useState } from 'react';
import { Alert, Button, Center, Paper, PasswordInput, Stack, Text, TextInput, Title } from '@mantine/core';
import { IconAlertTriangle, IconClock, IconCpu } from '@tabler/icons-react';
import { useNavigate, useSearch } from '@tanstack/react-router';
import { isApiError } from '../../api/api-error';
import { auth } from '../../api/client';

/** The message a login failure deserves (wrong password, paused logins, disabled account, no server). */
export function loginErrorMessage(e: unknown): string {
  if (!isApiError(e)) return 'Login failed. Please try again.';
  switch (e.code) {
    case 'invalid_credentials':
      return 'Wrong username or password.';
    case 'rate_limited':
      return 'Too many login attempts. Logins are paused for a moment.';
    case 'account_disabled':
      return 'This account is disabled. Ask an administrator to enable it.';
    case 'network_error':
      return 'The GGnet server cannot be reached. Check the network and that the server is running.';
    default:
      return e.hint ? `${e.detail} (${e.hint})` : e.detail;
  }
}

export function LoginPage() {
  const navigate = useNavigate();
  const search: { redirect?: string } = useSearch({ strict: false });
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // logins are paused per user name: another name may log in meanwhile
  const [wait, setWait] = useState<{ user: string; until: number }>({ user: '', until: 0 });
  const waitUntil = wait.user === username.trim().toLowerCase() ? wait.until : 0;
  const [now, setNow] = useState(Date.now());
  const ended = auth.endedReason;

  useEffect(() => {
    if (waitUntil <= Date.now()) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [waitUntil]);
  const waitSec = Math.max(0, Math.ceil((waitUntil - now) / 1000));

  const submit = async (ev: React.FormEvent) => {
    ev.preventDefault();
    if (!username || !password || waitSec > 0) return;
    setBusy(true);
    setError(null);
    try {
      await auth.login(username, password);
      const to =
        search.redirect && search.redirect.startsWith('/') && !search.redirect.startsWith('/login')
          ? search.redirect
          : '/';
      await navigate({ to });
    } catch (e) {
      setError(loginErrorMessage(e));
      if (isApiError(e) && e.code === 'rate_limited') {
        // one clock reading for both, or the countdown starts at 31 for a 30 s wait
        const t = Date.now();
        setNow(t);
        setWait({ user: username.trim().toLowerCase(), until: t + (e.retryAfterSec ?? 60) * 1000 });
      }
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" w={380} radius="md">
        <form onSubmit={submit} noValidate>
          <Stack>
            <Stack gap={4} align="center">
              <IconCpu size={36} />
              <Title order={2}>GGnet</Title>
              <Text c="dimmed" size="sm">
                Diskless boot console
              </Text>
            </Stack>
            {ended && !error && (
              <Alert color="yellow" icon={<IconClock size={18} />} data-testid="session-ended">
                {ended}
              </Alert>
            )}
            {error && (
              <Alert
                color="red"
                icon={<IconAlertTriangle size={18} />}
                role="alert"
                data-testid="login-error"
              >
                {error}
                {waitSec > 0 && <Text size="sm">Try again in {waitSec} s.</Text>}
              </Alert>
            )}
            <TextInput
              label="Username"
              autoComplete="username"
              value={username}
              onChange={(e) => setUsername(e.currentTarget.value)}
              required
              autoFocus
            />
            <PasswordInput
              label="Password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.currentTarget.value)}
              required
            />
            <Button type="submit" loading={busy} disabled={!username || !password || waitSec > 0}>
              {waitSec > 0 ? `Wait ${waitSec} s` : 'Log in'}
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
