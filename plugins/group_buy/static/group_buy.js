/* group_buy: tick the server-rendered countdowns; copy the share link. The pages work without it. */
(function () {
  var clocks = document.querySelectorAll('.gb-countdown[data-seconds]');
  if (clocks.length && !window.__gbTicking) {
    window.__gbTicking = true;
    var start = Date.now();
    setInterval(function () {
      var gone = Math.floor((Date.now() - start) / 1000);
      clocks.forEach(function (el) {
        var s = Math.max(0, parseInt(el.dataset.seconds, 10) - gone);
        var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
        var b = el.querySelector('b');
        if (b) b.textContent = h + ':' + (m < 10 ? '0' : '') + m + ':' + (sec < 10 ? '0' : '') + sec;
      });
    }, 1000);
  }
  document.querySelectorAll('[data-copy]').forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener('click', function () {
      var input = document.querySelector(btn.dataset.copy);
      if (!input) return;
      input.select();
      var done = function () { btn.textContent = btn.dataset.copied; };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand('copy'); done(); });
      else { document.execCommand('copy'); done(); }
    });
  });
})();
