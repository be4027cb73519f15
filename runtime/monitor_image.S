/* The static monitor program, carried inside kukeon (runtime/monitor_ctl.c
 * writes it out once to <run-path>/bin/kukeon-monitor).  MONITOR_IMAGE is the
 * path of build/kukeon-monitor, set by the Makefile. */
	.section .rodata
	.balign 16
	.globl kk_monitor_image
	.globl kk_monitor_image_end
kk_monitor_image:
	.incbin MONITOR_IMAGE
kk_monitor_image_end:
	.section .note.GNU-stack,"",@progbits
