/* Copy buttons on the links page. Without this file the link and the code stay visible
   and selectable; the buttons (hidden by default) appear only where copying works. */
(function () {
  'use strict';
  document.querySelectorAll('input.c-url').forEach(function (input) {
    input.addEventListener('focus', function () { input.select(); });
  });
  if (!navigator.clipboard || !window.isSecureContext) return;
  document.querySelectorAll('.c-copy-btn[data-copy]').forEach(function (button) {
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(button.dataset.copy).then(function () {
        button.textContent = button.dataset.done || label;
        setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  });
})();
