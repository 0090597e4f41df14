/* Search boxes feel instant; every page works the same without this file.
   - input[data-suggest="<index>"] with a <datalist>: suggestions from
     /api/v1/search/<index>/suggest as you type (debounced; a stale answer is dropped),
     and picking one searches at once.
   - form[data-autosubmit]: a changed checkbox, radio or select applies the filters. */
(function () {
  'use strict';
  var DELAY = 180;

  function submit(form) {
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  document.querySelectorAll('input[data-suggest]').forEach(function (input) {
    var list = input.list;
    if (!list || !window.fetch || !window.AbortController) return;
    var timer = 0, pending = null, asked = '';
    var url = '/api/v1/search/' + encodeURIComponent(input.dataset.suggest) + '/suggest?limit=8&q=';

    input.addEventListener('input', function (event) {
      var q = input.value.trim();
      var picked = !event.inputType || event.inputType === 'insertReplacementText';
      if (picked && q && Array.prototype.some.call(list.options, function (o) { return o.value === input.value; })) {
        if (input.form) submit(input.form);
        return;
      }
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (q === asked) return;
        asked = q;
        if (pending) pending.abort();
        if (!q) { list.replaceChildren(); return; }
        pending = new AbortController();
        fetch(url + encodeURIComponent(q), {signal: pending.signal, headers: {accept: 'application/json'}})
          .then(function (r) { return r.ok ? r.json() : {suggestions: []}; })
          .then(function (body) {
            list.replaceChildren.apply(list, (body.suggestions || []).map(function (text) {
              var option = document.createElement('option');
              option.value = text;
              return option;
            }));
          })
          .catch(function () { /* aborted or offline: keep typing, submit works anyway */ });
      }, DELAY);
    });
  });

  document.querySelectorAll('form[data-autosubmit]').forEach(function (form) {
    form.addEventListener('change', function (event) {
      if (event.target.matches('input[type=checkbox], input[type=radio], select')) submit(form);
    });
  });
})();
