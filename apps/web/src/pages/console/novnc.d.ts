// noVNC 1.4 ships ES modules without types: the little of RFB the console uses.
declare module '@novnc/novnc/core/rfb.js' {
  export default class RFB extends EventTarget {
    constructor(target: HTMLElement, urlOrChannel: string | object, options?: Record<string, unknown>);
    scaleViewport: boolean;
    resizeSession: boolean;
    focusOnClick: boolean;
    background: string;
    sendCtrlAltDel(): void;
    focus(): void;
    disconnect(): void;
  }
}
