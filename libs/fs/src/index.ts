export { writeFileAtomic, syncDirectory } from './atomic-file';
