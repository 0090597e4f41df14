/* The note page without reloads: carousel arrows, dots and keys; like, collect, follow and
   comment likes sent with fetch (the form's own fields, CSRF token included); the share
   button copies the link. Anything that fails falls back to submitting the form. */
(function () {
  'use strict';

  // ---- carousel
  document.querySelectorAll('[data-carousel]').forEach(function (box) {
    var track = box.querySelector('.note-slides');
    var slides = track ? track.children : [];
    var dots = box.querySelectorAll('.note-dots a');
    if (!track || slides.length < 2) return;
    var current = function () { return Math.round(track.scrollLeft / Math.max(track.clientWidth, 1)); };
    var go = function (i) {
      i = Math.max(0, Math.min(slides.length - 1, i));
      track.scrollTo({ left: i * track.clientWidth });
    };
    var arrow = function (cls, label, delta) {
      var b = document.createElement('button');
      b.type = 'button'; b.className = 'note-arrow ' + cls; b.setAttribute('aria-label', label);
      b.textContent = delta < 0 ? '‹' : '›';
      b.addEventListener('click', function () { go(current() + delta); });
      box.appendChild(b);
      return b;
    };
    var prev = arrow('prev', box.dataset.prevLabel || 'Previous image', -1);
    var next = arrow('next', box.dataset.nextLabel || 'Next image', 1);
    var at = 0;
    var update = function () {
      var i = at = current();
      dots.forEach(function (d, n) { if (n === i) d.setAttribute('aria-current', 'true'); else d.removeAttribute('aria-current'); });
      prev.disabled = i === 0; next.disabled = i === slides.length - 1;
    };
    dots.forEach(function (d, n) { d.addEventListener('click', function (e) { e.preventDefault(); go(n); }); });
    track.addEventListener('keydown', function (e) {
      if (e.key === 'ArrowLeft') { e.preventDefault(); go(current() - 1); }
      if (e.key === 'ArrowRight') { e.preventDefault(); go(current() + 1); }
    });
    var pending = null;
    track.addEventListener('scroll', function () { clearTimeout(pending); pending = setTimeout(update, 60); }, { passive: true });
    window.addEventListener('resize', function () { track.style.scrollBehavior = 'auto'; track.scrollLeft = at * track.clientWidth; track.style.scrollBehavior = ''; });
    update();
  });

  // ---- the price follows the chosen option
  document.querySelectorAll('.note-product input[type=radio][data-price]').forEach(function (radio) {
    radio.addEventListener('change', function () {
      var shown = radio.form.querySelector('p[data-price]');
      if (!shown || !radio.dataset.price) return;
      var b = shown.querySelector('b') || shown.appendChild(document.createElement('b'));
      b.textContent = radio.dataset.price;
    });
  });

  // ---- engagement without a reload
  var csrf = function (form) { var f = form.querySelector('input[name=_csrf_token]'); return f ? f.value : ''; };
  var send = function (form) {
    return fetch(form.action, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Accept': 'application/json', 'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRFToken': csrf(form) },
      body: new URLSearchParams(new FormData(form))
    }).then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); });
  };
  var showCounts = function (form, state) {
    var map = {};
    try { map = JSON.parse(form.dataset.counts || '{}'); } catch (e) { map = {}; }
    Object.keys(map).forEach(function (field) {
      if (typeof state[field] !== 'number') return;
      document.querySelectorAll('[data-count="' + map[field] + '"]').forEach(function (el) { el.textContent = state[field]; });
    });
  };

  document.querySelectorAll('form[data-toggle], form[data-toggle-form]').forEach(function (form) {
    form.addEventListener('submit', function (e) {
      if (form.dataset.busy) { e.preventDefault(); return; }
      e.preventDefault();
      form.dataset.busy = '1';
      var group = form.dataset.toggle || form.dataset.toggleForm;
      send(form).then(function (state) {
        showCounts(form, state);
        var shown = null;
        document.querySelectorAll('[data-toggle="' + group + '"]').forEach(function (el) {
          el.hidden = !el.hidden;
          if (el.tagName === 'DETAILS') el.open = false;
          if (!el.hidden) shown = el;
        });
        var focus = shown && shown.querySelector('button, summary');
        if (focus) focus.focus();
      }).catch(function () {
        form.submit();  // the server answers as without JS (a guest goes to the login page)
      }).finally(function () { delete form.dataset.busy; });
    });
  });

  // ---- share: copy the link, and count the share for a signed-in viewer
  document.querySelectorAll('form[data-share]').forEach(function (form) {
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var input = form.querySelector('input[type=text]');
      var status = form.querySelector('[role=status]');
      var copied = function () { if (status) status.textContent = status.dataset.copied || ''; };
      var fallback = function () { input.select(); try { document.execCommand('copy'); copied(); } catch (err) { /* the link stays selected */ } };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(copied, fallback);
      else fallback();
      if (form.hasAttribute('data-signed-in')) send(form).then(function (state) { showCounts(form, state); }).catch(function () {});
    });
  });
})();
