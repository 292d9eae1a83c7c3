export {
  deployFunction, deployFromDirectory, removeFunction, functionDir, BUNDLE_FILE, SOURCE_DIR, DEFAULT_DEPLOY_OPTIONS,
  type DeployOptions, type DeployResult, type DeployTimings, type DeployStep,
} from './deploy.ts';
export { DEFAULT_SETTINGS, LIMITS as SETTING_LIMITS, validateSettings, resolveSettings, type DeploySettings } from '../function.ts';
export { readPackageJson, parsePackageJson, type FunctionPackage } from './package-json.ts';
export { findEntry, DEFAULT_ENTRIES, type Entry } from './source.ts';
export { bundleFunction, BUNDLE_OPTIONS, packageName, type BundleExtras, type SourceMapMode } from './bundle.ts';
export { buildVariantBundle, lockedPackages, type LockedPackage, type VariantOptions, type VariantResult } from './variant.ts';
export { NPM_INSTALL_ARGS, summarizeNpmError } from './install.ts';
export { nodeVerifier, VERIFY_SCRIPT, type Verifier, type VerifyOptions, type VerifyReport } from './verify.ts';
export {
  deployFromUpload, materializeUpload, readTarball, readFilesBody, writeFiles, DEFAULT_UPLOAD_LIMITS,
  type Upload, type FilesBody, type UploadLimits, type UnpackedFile,
} from './upload.ts';
