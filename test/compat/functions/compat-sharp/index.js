// Thumbnails with sharp (native libvips from a platform-specific optional dependency).
const sharp = require('sharp');

exports.handler = async (event) => {
  const size = event.size ?? 64;
  const png = await sharp({ create: { width: size, height: size, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toBuffer();
  const thumb = await sharp(png).resize(size / 4).png().toBuffer();
  const meta = await sharp(thumb).metadata();
  return { width: meta.width, height: meta.height, format: meta.format };
};
