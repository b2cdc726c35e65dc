// Stereo-Spot: a side-by-side or top-bottom result seen in the page as an anaglyph, so it can be
// checked with cheap glasses before it goes to a headset or a 3D TV, or without glasses: as a
// cross-eyed pair, or wiggling (the eyes in turn, near things moving against far ones). WebGL
// draws each frame the player shows, mixing the two eyes with Dubois' matrices (the ones the
// engines use, given by the page) or taking one eye alone; the player below stays the player.
// Without WebGL the choice is not offered.
(function () {
  "use strict";

  var box = document.getElementById("stereo-view");
  var video = document.getElementById("player");
  var canvas = document.getElementById("stereo-canvas");
  if (!box || !video || !canvas) { return; }
  var gl = canvas.getContext("webgl", { preserveDrawingBuffer: true });
  if (!gl) { return; }

  var layout = box.dataset.layout;
  var mixes = JSON.parse(box.dataset.mixes);
  var sideBySide = layout === "sbs" || layout === "half-sbs";
  var squeezed = layout === "half-sbs" || layout === "half-tab";
  var message = document.getElementById("stereo-message");

  var vertexSource =
    "attribute vec2 corner; varying vec2 uv;" +
    // The texture's first row is the picture's top; the canvas's top is y = +1.
    "void main() { uv = vec2(corner.x, 1.0 - corner.y);" +
    " gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0); }";
  var fragmentSource =
    "#ifdef GL_FRAGMENT_PRECISION_HIGH\nprecision highp float;\n#else\nprecision mediump float;\n#endif\n" +
    "uniform sampler2D picture; uniform vec2 eyeScale; uniform vec2 rightOffset;" +
    "uniform mat3 leftMix; uniform mat3 rightMix; varying vec2 uv;" +
    // Dubois' matrices are for linear light; a 2.2 power is near enough for a look.
    "vec3 linear(vec3 c) { return pow(c, vec3(2.2)); }" +
    "void main() { vec2 at = uv * eyeScale;" +
    " vec3 left = linear(texture2D(picture, at).rgb);" +
    " vec3 right = linear(texture2D(picture, at + rightOffset).rgb);" +
    " vec3 mixed = clamp(leftMix * left + rightMix * right, 0.0, 1.0);" +
    " gl_FragColor = vec4(pow(mixed, vec3(1.0 / 2.2)), 1.0); }";

  function compiled(type, source) {
    var shader = gl.createShader(type);
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    return shader;
  }

  var program = gl.createProgram();
  gl.attachShader(program, compiled(gl.VERTEX_SHADER, vertexSource));
  gl.attachShader(program, compiled(gl.FRAGMENT_SHADER, fragmentSource));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) { return; }
  gl.useProgram(program);

  var corners = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, corners);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([0, 0, 1, 0, 0, 1, 1, 1]), gl.STATIC_DRAW);
  var corner = gl.getAttribLocation(program, "corner");
  gl.enableVertexAttribArray(corner);
  gl.vertexAttribPointer(corner, 2, gl.FLOAT, false, 0, 0);

  var texture = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, texture);
  // A video's size is seldom a power of two: WebGL 1 samples those only clamped, unmipmapped.
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);

  gl.uniform2f(gl.getUniformLocation(program, "eyeScale"), sideBySide ? 0.5 : 1, sideBySide ? 1 : 0.5);
  gl.uniform2f(gl.getUniformLocation(program, "rightOffset"), sideBySide ? 0.5 : 0, sideBySide ? 0 : 0.5);

  function columns(rows) {  // GLSL takes matrices column by column
    return new Float32Array([
      rows[0][0], rows[1][0], rows[2][0],
      rows[0][1], rows[1][1], rows[2][1],
      rows[0][2], rows[1][2], rows[2][2],
    ]);
  }

  // One eye alone, as a mix: its own colours, none of the other's.
  var SAME = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  var NONE = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  var LEFT_EYE = [SAME, NONE], RIGHT_EYE = [NONE, SAME];
  // Wiggling shows each eye this long: a few swaps a second show depth without tiring.
  var WIGGLE_MS = 150;
  var MESSAGES = {
    "cross-eyed": "Cross your eyes until the two pictures meet in the middle: the right eye's " +
      "picture is on the left. It follows the player below.",
    wiggle: "The two eyes' pictures in turn: what is near moves against what is far. " +
      "It follows the player below.",
  };

  var mode = "";
  var drawing = false;
  var eyeWidth = 0;

  function sizeCanvas() {
    // One eye's picture as it is shown: a squeezed half stretched back to the full frame.
    var width = video.videoWidth, height = video.videoHeight;
    eyeWidth = sideBySide && !squeezed ? Math.round(width / 2) : width;
    canvas.width = mode === "cross-eyed" ? 2 * eyeWidth : eyeWidth;
    canvas.height = !sideBySide && !squeezed ? Math.round(height / 2) : height;
    gl.viewport(0, 0, canvas.width, canvas.height);
  }

  function useMix(pair) {
    gl.uniformMatrix3fv(gl.getUniformLocation(program, "leftMix"), false, columns(pair[0]));
    gl.uniformMatrix3fv(gl.getUniformLocation(program, "rightMix"), false, columns(pair[1]));
  }

  function drawFrame() {
    if (mode === "cross-eyed") {
      // The right eye's picture on the left, where the crossed left eye looks, and back.
      useMix(RIGHT_EYE);
      gl.viewport(0, 0, eyeWidth, canvas.height);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
      useMix(LEFT_EYE);
      gl.viewport(eyeWidth, 0, eyeWidth, canvas.height);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
      return;
    }
    if (mode === "wiggle") {
      useMix(Math.floor(performance.now() / WIGGLE_MS) % 2 ? RIGHT_EYE : LEFT_EYE);
    }
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }

  // A picture this browser cannot decode (HEVC in Chromium): the player plays the sound alone,
  // and WebGL, handed no frame, would refuse every draw ("texImage2D: no video").
  function noPicture() {
    return video.readyState >= 1 && video.videoWidth === 0;
  }

  function withdraw() {
    if (!noPicture()) { return; }
    mode = "";
    canvas.hidden = true;
    box.hidden = true;
  }

  function draw() {
    if (!mode) { drawing = false; return; }
    if (video.readyState >= 2 && !noPicture()) {
      try {
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB, gl.RGB, gl.UNSIGNED_BYTE, video);
      } catch (error) {
        // A video from another origin without CORS cannot be read into WebGL.
        message.textContent = "The video's storage does not let this page read its frames.";
        mode = "";
        canvas.hidden = true;
        drawing = false;
        return;
      }
      drawFrame();
    }
    window.requestAnimationFrame(draw);
  }

  function choose(value) {
    mode = value;
    canvas.hidden = !mode;
    message.textContent = mode ? MESSAGES[mode] || "The anaglyph follows the player below." : "";
    if (!mode) { return; }
    if (mixes[mode]) { useMix(mixes[mode]); }
    if (video.readyState >= 1) { sizeCanvas(); }
    if (!drawing) { drawing = true; window.requestAnimationFrame(draw); }
  }

  video.addEventListener("loadedmetadata", sizeCanvas);
  video.addEventListener("loadedmetadata", withdraw);
  video.addEventListener("loadeddata", withdraw);
  var select = document.getElementById("view");
  select.addEventListener("change", function () { choose(select.value); });
  box.hidden = noPicture();
}());
