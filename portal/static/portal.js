// Stereo-Spot portal: upload with a progress bar, then start; job pages refresh themselves.
// No inline script (the CSP forbids it) and no build step.
(function () {
  "use strict";

  function uploadPage(form) {
    var bar = document.getElementById("upload-bar");
    var percent = document.getElementById("upload-percent");
    var message = document.getElementById("upload-message");
    var button = document.getElementById("upload-button");
    var fileInput = document.getElementById("file");

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var file = fileInput.files[0];
      if (!file) { message.textContent = "Choose a video file first."; return; }
      if (file.size > Number(form.dataset.maxBytes)) {
        message.textContent = "This file is larger than the portal accepts.";
        return;
      }
      // Signed fields first, the file last: the order S3 and the local endpoint require.
      var data = new FormData();
      form.querySelectorAll("input[type=hidden]").forEach(function (input) {
        data.append(input.name, input.value);
      });
      data.append("file", file, file.name);

      button.disabled = true;
      fileInput.disabled = true;
      document.getElementById("upload-progress").hidden = false;
      message.textContent = "Uploading " + file.name + "…";

      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var p = Math.floor((e.loaded / e.total) * 100);
          bar.value = p;
          percent.textContent = p + " %";
        }
      });
      xhr.addEventListener("load", function () {
        if (xhr.status >= 200 && xhr.status < 300) {
          bar.value = 100;
          percent.textContent = "100 %";
          start(file.name);
        } else {
          fail(xhr.status === 413 ? "The file is too large." :
               xhr.status === 403 ? "The upload link expired; reload the page and try again." :
               "The upload failed (" + xhr.status + ").");
        }
      });
      xhr.addEventListener("error", function () { fail("The upload was interrupted."); });
      xhr.send(data);
    });

    function start(name) {
      var fields = { source_name: name };
      var previewFirst = document.getElementById("preview-first");
      if (previewFirst && previewFirst.checked) { fields.preview = "on"; }
      ["start", "end"].forEach(function (name) {
        var input = document.getElementById("upload-" + name);
        if (input && input.value.trim()) { fields[name] = input.value.trim(); }
      });
      message.textContent = "Uploaded. Checking the video…";
      fetch(form.dataset.startUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "X-CSRF-Token": form.dataset.csrf,
          "Accept": "application/json",
          "Content-Type": "application/x-www-form-urlencoded"
        },
        body: new URLSearchParams(fields)
      }).then(function (response) {
        return response.json().then(function (body) {
          // The job to watch: this one, or with "preview first" its preview.
          if (response.ok) { window.location.assign(body.links.page); return; }
          fail(body.detail || "Starting failed.");
        });
      }).catch(function () { fail("Could not reach the portal to start the job."); });
    }

    function fail(text) {
      message.textContent = text;
      button.disabled = false;
      fileInput.disabled = false;
    }
  }

  function statusPage(section) {
    var url = section.dataset.pollUrl;
    var initial = section.dataset.status;
    var bar = document.getElementById("job-bar");
    var percent = document.getElementById("job-percent");
    var segments = document.getElementById("segments");
    var preparing = document.getElementById("preparing");
    var preparingPercent = document.getElementById("preparing-percent");

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (job) {
          if (!job) { return; }
          if (job.status !== initial) { window.location.reload(); return; }
          var p = Math.round(job.progress * 100);
          if (bar) { bar.value = p; }
          if (percent) { percent.textContent = p + " %"; }
          if (segments) {
            segments.textContent = job.completed_segments + " / " + (job.total_segments || "?");
          }
          if (preparing && job.status === "chunking" && job.chunk_progress > 0) {
            preparing.hidden = false;
            preparingPercent.textContent = Math.round(job.chunk_progress * 100) + " %";
          }
        })
        .catch(function () { /* the next poll tries again */ })
        .finally(function () { window.setTimeout(poll, 2000); });
    }
    window.setTimeout(poll, 2000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("upload-form");
    if (form) { uploadPage(form); }
    var section = document.getElementById("job");
    if (section && section.dataset.pollUrl) { statusPage(section); }
  });
})();
