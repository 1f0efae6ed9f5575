/** Where tgtd keeps its management socket for a control port (several tgtd run side by side). */
export const tgtSocketPath = (controlPort: number) => `/var/run/tgtd/socket.${controlPort}`;
