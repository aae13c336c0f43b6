"""Non-owning array views into a block scratch buffer, as Numba intrinsics.

Why not plain slicing: ``S[0, k::K]`` or ``buf.reshape(...)`` make Numba
compute shapes and strides at run time (slice normalisation, the reshape
helper is an opaque C call), so LLVM cannot see that a lane view has
``DIM`` elements at stride ``K``.  These intrinsics build the array struct
directly from compile-time constants (the generated module's ``DIM``/``K``
globals), with ``meminfo = NULL``: no NRT incref/decref in the hot loop.
The views must not outlive the buffer they point into (they never leave the
driver).  More small intrinsics serve the lane driver: stack arrays of
constant shape and a constant-length copy (so that LLVM keeps the block's
state in registers, see ``stack1``), an atomic fetch-add (work sharing
between threads) and a write prefetch.
"""
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


def _intp(context, builder, val, ty):
    return context.cast(builder, val, ty, types.intp)


def _make(layout, ndim):
    @intrinsic
    def view(typingctx, buf, offset, shape, strides):
        # buf: 1-D float array; offset: element offset; shape/strides: tuples
        # of ints (in elements)
        if not isinstance(buf, types.Array) or buf.ndim != 1:
            return None
        rty = types.Array(buf.dtype, ndim, layout)
        sig = rty(buf, offset, shape, strides)

        def codegen(context, builder, sig, args):
            a = make_array(sig.args[0])(context, builder, args[0])
            off = _intp(context, builder, args[1], sig.args[1])
            shp = cgutils.unpack_tuple(builder, args[2], ndim)
            std = cgutils.unpack_tuple(builder, args[3], ndim)
            shty, stty = sig.args[2], sig.args[3]
            itemsize = context.get_abi_sizeof(context.get_data_type(buf.dtype))
            isz = context.get_constant(types.intp, itemsize)
            shp = [_intp(context, builder, v, shty[i]) for i, v in enumerate(shp)]
            std = [builder.mul(_intp(context, builder, v, stty[i]), isz) for i, v in enumerate(std)]
            out = make_array(rty)(context, builder)
            data = builder.gep(a.data, [off], inbounds=True)
            populate_array(out, data=data, shape=shp, strides=std, itemsize=isz, meminfo=None)
            return out._getvalue()

        return sig, codegen

    return view


strided1 = _make("A", 1)   # e.g. lane k: strided1(S, X_OFF + k, (DIM,), (K,))
contig1 = _make("C", 1)    # e.g. all coordinates of a block: contig1(S, X_OFF, (N,), (1,))
contig2 = _make("C", 2)    # e.g. optimizer state: contig2(S, ST_OFF, (NS, N), (N, 1))
strided2 = _make("A", 2)   # e.g. state of lane k: strided2(S, ST_OFF + k, (NS, DIM), (N, K))


@intrinsic
def fetch_add(typingctx, arr, idx, val):
    """Atomic ``old = arr[idx]; arr[idx] += val; return old`` (int64, seq_cst):
    work distribution between threads inside a nogil kernel."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64):
        return None
    sig = types.int64(arr, idx, val)

    def codegen(context, builder, sig, args):
        a = make_array(sig.args[0])(context, builder, args[0])
        i = _intp(context, builder, args[1], sig.args[1])
        v = context.cast(builder, args[2], sig.args[2], types.int64)
        ptr = builder.gep(a.data, [i], inbounds=True)
        return builder.atomic_rmw("add", ptr, v, "seq_cst")

    return sig, codegen


@intrinsic
def prefetch_w(typingctx, arr, i, j):
    """Prefetch the cache line of ``arr[i, j]`` (2-D C-contiguous) for
    writing (``llvm.prefetch``, rw = 1, locality 3): a hint, no fault if the
    address is past the end."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2):
        return None
    sig = types.void(arr, i, j)

    def codegen(context, builder, sig, args):
        from llvmlite import ir

        a = make_array(sig.args[0])(context, builder, args[0])
        ii = _intp(context, builder, args[1], sig.args[1])
        jj = _intp(context, builder, args[2], sig.args[2])
        st0 = cgutils.unpack_tuple(builder, a.strides, 2)[0]
        byte = builder.add(builder.mul(ii, st0),
                           builder.mul(jj, context.get_constant(types.intp, context.get_abi_sizeof(
                               context.get_data_type(arr.dtype)))))
        i8p = ir.IntType(8).as_pointer()
        ptr = builder.gep(builder.bitcast(a.data, i8p), [byte])
        fnty = ir.FunctionType(ir.VoidType(), [i8p, ir.IntType(32), ir.IntType(32), ir.IntType(32)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        i32 = ir.IntType(32)
        builder.call(fn, [ptr, i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


def _make_stack(dtype, ndim):
    def typer(shape):
        if len(shape) != ndim or not all(isinstance(n, types.IntegerLiteral) and n.literal_value > 0
                                         for n in shape):
            return None
        dims = [n.literal_value for n in shape]
        rty = types.Array(dtype, ndim, "C")
        sig = rty(*shape)

        def codegen(context, builder, sig, args):
            from llvmlite import ir

            dt = context.get_data_type(dtype)
            size = 1
            for d in dims:
                size *= d
            with builder.goto_entry_block():
                ptr = builder.alloca(ir.ArrayType(dt, size))
                ptr.align = 64
            isz = context.get_abi_sizeof(dt)
            strides, acc = [], isz
            for d in reversed(dims):
                strides.insert(0, context.get_constant(types.intp, acc))
                acc *= d
            out = make_array(rty)(context, builder)
            populate_array(out, data=builder.bitcast(ptr, dt.as_pointer()),
                           shape=[context.get_constant(types.intp, d) for d in dims], strides=strides,
                           itemsize=context.get_constant(types.intp, isz), meminfo=None)
            return out._getvalue()

        return sig, codegen

    if ndim == 1:
        @intrinsic
        def stack(typingctx, n0):
            return typer((n0,))
    else:
        @intrinsic
        def stack(typingctx, n0, n1):
            return typer((n0, n1))
    return stack


# Arrays on the stack of the calling function (``alloca`` in its entry
# block), of compile-time constant shape, not initialised, ``meminfo = NULL``.
# Why: LLVM's late SROA pass (after the loop vectorizer and unroller)
# promotes such a buffer to registers when every access to it has a constant
# offset, as gcc keeps a C kernel's ``double x[16]`` in zmm registers; a heap
# buffer stays in memory, one store and one load per value per step.  Two
# stack arrays never alias each other (nor an argument), so loops over them
# need no run-time alias checks (whose scalar fallback loop would index the
# buffer with a variable and so block the promotion).  Valid only inside the
# function that made them (Numba inlines ``inline="always"`` callees, so
# theirs is the caller's).
stack1 = _make_stack(types.float64, 1)     # stack1(n)
stack2 = _make_stack(types.float64, 2)     # stack2(n0, n1)
stack2i = _make_stack(types.int64, 2)      # stack2i(n0, n1), int64


@intrinsic
def copy_block(typingctx, dst, dst_off, src, src_off, n):
    """``dst[dst_off:dst_off + n] = src[src_off:src_off + n]`` for 1-D
    C-contiguous arrays of one dtype, offsets and ``n`` compile-time
    constants, as one ``llvm.memcpy`` of constant length: SROA splits such a
    copy out of (or into) a stack array into constant-offset loads and
    stores, where a loop (a variable index) would keep the array in memory.
    The ranges must not overlap and must lie inside both arrays."""
    if not (isinstance(dst, types.Array) and isinstance(src, types.Array) and dst.ndim == 1 and src.ndim == 1
            and dst.dtype == src.dtype and dst.layout == "C" and src.layout == "C"):
        return None
    if not all(isinstance(v, types.IntegerLiteral) for v in (dst_off, src_off, n)):
        return None
    d0, s0, nn = dst_off.literal_value, src_off.literal_value, n.literal_value
    sig = types.void(dst, dst_off, src, src_off, n)

    def codegen(context, builder, sig, args):
        from llvmlite import ir

        itemsize = context.get_abi_sizeof(context.get_data_type(sig.args[0].dtype))
        a = make_array(sig.args[0])(context, builder, args[0])
        b = make_array(sig.args[2])(context, builder, args[2])
        i64 = ir.IntType(64)
        pd = builder.gep(a.data, [i64(d0)], inbounds=True)
        ps = builder.gep(b.data, [i64(s0)], inbounds=True)
        cgutils.raw_memcpy(builder, pd, ps, i64(nn), itemsize)
        return context.get_dummy_value()

    return sig, codegen
