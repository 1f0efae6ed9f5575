import { forwardRef, useEffect, useImperativeHandle, useRef, useState } from 'react';
import { Badge, Box, Group, Text } from '@mantine/core';
import { auth } from '../../api/client';
import { VncChannel } from './vnc-channel';

export interface VncScreenHandle {
  ctrlAltDel(): void;
}

type Status = 'connecting' | 'connected' | 'reconnecting' | 'refused';

const vncUrl = (imageId: string) =>
  `${window.location.protocol === 'https:' ? 'wss:' : 'ws:'}//${window.location.host}/api/v1/images/${imageId}/console/vnc`;

/**
 * The console VM's screen: noVNC on the authenticated VNC WebSocket. Reconnects with backoff while
 * the VM runs (e.g. across a restart of GGnet, which keeps the VM running); a refusal (no VM, no
 * operator role) is shown and not retried.
 */
export const VncScreen = forwardRef<VncScreenHandle, { imageId: string; running: boolean }>(
  function VncScreen({ imageId, running }, ref) {
    const box = useRef<HTMLDivElement>(null);
    const rfbRef = useRef<{ sendCtrlAltDel(): void; focus(): void; disconnect(): void } | null>(null);
    const [status, setStatus] = useState<Status>('connecting');
    const [detail, setDetail] = useState('');
    /** How many times the screen connected (a reconnect after a GGnet restart counts again). */
    const [connects, setConnects] = useState(0);

    useImperativeHandle(ref, () => ({
      ctrlAltDel: () => {
        rfbRef.current?.sendCtrlAltDel();
        rfbRef.current?.focus();
      },
    }));

    useEffect(() => {
      if (!running || !box.current) return;
      let stopped = false;
      let attempt = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let ws: WebSocket | null = null;
      const retry = () => {
        if (stopped) return;
        setStatus('reconnecting');
        timer = setTimeout(() => void connect(), Math.min(500 * 2 ** attempt++, 5000));
      };
      const connect = async () => {
        if (stopped || !box.current) return;
        const token = await auth.accessToken().catch(() => null);
        if (stopped) return;
        if (!token) return retry();
        const { default: RFB } = await import('@novnc/novnc/core/rfb.js');
        if (stopped) return;
        const socket = new WebSocket(vncUrl(imageId));
        ws = socket;
        let refused = false;
        new VncChannel(socket, token, {
          ready: (ch) => {
            attempt = 0;
            box.current?.replaceChildren();
            const rfb = new RFB(box.current!, ch);
            rfb.scaleViewport = true;
            rfb.background = '#000';
            rfbRef.current = rfb;
            rfb.addEventListener('connect', () => {
              setStatus('connected');
              setConnects((n) => n + 1);
              rfb.focus();
            });
          },
          refused: (code, d) => {
            // 4401-type refusals (expired token) are retried with a fresh token; the others are final
            if (code === 'forbidden' || code === 'console_not_running') {
              refused = true;
              setStatus('refused');
              setDetail(d);
            }
          },
          closed: () => {
            rfbRef.current = null;
            if (!refused) retry();
          },
        });
      };
      setStatus('connecting');
      void connect();
      return () => {
        stopped = true;
        clearTimeout(timer);
        rfbRef.current?.disconnect();
        rfbRef.current = null;
        ws?.close();
      };
    }, [imageId, running]);

    return (
      <Box>
        <Group gap="xs" mb={4}>
          <Badge
            data-testid="vnc-status"
            data-connects={connects}
            color={status === 'connected' ? 'green' : status === 'refused' ? 'red' : 'yellow'}
            variant="light"
          >
            {running ? status : 'powered off'}
          </Badge>
          {status === 'refused' && (
            <Text size="sm" c="red">
              {detail}
            </Text>
          )}
        </Group>
        <Box
          ref={box}
          data-testid="vnc-screen"
          style={{ width: '100%', height: '70vh', background: '#000', overflow: 'hidden' }}
        />
      </Box>
    );
  },
);
