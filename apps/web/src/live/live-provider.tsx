import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { auth } from '../api/client';
import { useAuth } from '../api/use-auth';
import { applyEvent, throttledInvalidator } from './apply-event';
import { showBootAlert } from './boot-alerts';
import { eventFeed } from './event-feed';
import { LiveConnection, type LiveStatus } from './live-connection';

const LiveContext = createContext<LiveStatus>('offline');

export const useLiveStatus = () => useContext(LiveContext);

function eventsUrl(): string {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${window.location.host}/api/v1/events`;
}

/** Keeps one events WebSocket open while someone is logged in and feeds it into the query cache. */
export function LiveProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const session = useAuth();
  const loggedIn = !!session;
  const [status, setStatus] = useState<LiveStatus>('offline');

  useEffect(() => {
    if (!loggedIn) return;
    const invalidate = throttledInvalidator(qc);
    let first = true;
    const conn = new LiveConnection({
      auth,
      url: eventsUrl(),
      onEvent: (e) => {
        eventFeed.push(e);
        applyEvent(qc, e, invalidate);
        showBootAlert(e);
      },
      onReady: () => {
        // after a reconnect, whatever changed meanwhile was missed: refetch what is on screen
        if (!first) void qc.invalidateQueries();
        first = false;
      },
    });
    const off = conn.onStatus(setStatus);
    conn.start();
    return () => {
      off();
      conn.stop();
      invalidate.cancel();
    };
  }, [loggedIn, qc]);

  return <LiveContext.Provider value={status}>{children}</LiveContext.Provider>;
}
