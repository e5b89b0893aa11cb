/**
 * Chinese input: with an IME (pinyin, wubi), Enter confirms the candidate being
 * composed. Browsers flag that keydown (`isComposing`, or keyCode 229 in Safari
 * right after composition ends); neither handlers that act on Enter (search, chip
 * inputs) nor the browser's implicit form submission may act on it. Stopped in the
 * capture phase on window, before React's root listener, so every text field of the
 * console is covered; the composition itself belongs to the IME and is unaffected.
 */
export function guardImeEnter(target: Window = window) {
  target.addEventListener(
    'keydown',
    (event) => {
      if (event.key === 'Enter' && (event.isComposing || event.keyCode === 229)) {
        event.stopImmediatePropagation();
        event.preventDefault();
      }
    },
    { capture: true },
  );
}
