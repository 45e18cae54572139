// The alert page: keyboard shortcuts for the queue (1/2/3 record a verdict, J/K next/previous) and the moment
// of the alert marked under the clip. A file, not inline: the desk's Content-Security-Policy allows only 'self'.
(function () {
  const verdicts = { "1": "confirmed", "2": "false_alarm", "3": "needs_follow_up" };
  document.addEventListener("keydown", function (event) {
    const typing = event.target.closest && event.target.closest("input, textarea, select");
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const verdict = verdicts[event.key];
    const form = document.getElementById("verdict-form");
    if (verdict && form) {
      form.querySelector("input[value='" + verdict + "']").checked = true;
      form.submit();
      event.preventDefault();
      return;
    }
    const link = { j: "next", k: "previous" }[event.key.toLowerCase()];
    const target = link && document.getElementById(link);
    if (target) { window.location.href = target.href; event.preventDefault(); }
  });
  const clip = document.getElementById("clip");
  const at = clip ? parseFloat(clip.dataset.alertAt) : NaN;
  if (!clip || isNaN(at)) return;
  const goTo = function () { clip.currentTime = at; };
  const button = document.getElementById("to-alert");
  if (button) button.addEventListener("click", goTo);
  clip.addEventListener("loadedmetadata", function () {
    const bar = document.getElementById("clip-timeline");
    document.getElementById("clip-marker").style.left = Math.min(100, 100 * at / clip.duration) + "%";
    bar.hidden = false;
    goTo();
  });
})();
