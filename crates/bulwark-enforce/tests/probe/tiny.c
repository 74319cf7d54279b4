/* The smallest program: exits 0. Built with -nostdlib -static by the
 * Protect-mode benchmark, which needs many distinct allowed programs. */
void _start(void) {
	__asm__ volatile("mov $60, %eax\n xor %edi, %edi\n syscall");
	__builtin_unreachable();
}
